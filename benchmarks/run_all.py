"""`make bench`: the performance items 1-6 of docs/PERFORMANCE.md, each a ratio against its goal.

Each benchmark runs in its own process, prints its table and ratios and writes `<out>/<name>.json`
(default `benchmarks/results/local/`, untracked); this script then prints every ratio again in one
summary. Under 10 minutes on 2 CPU cores (`--quick`: about 3).

    python benchmarks/run_all.py [--quick | --full] [--only train,infer,gui,engine] [--with-accuracy] [--out DIR]

The committed reference figures are in `benchmarks/results/reference/`: refresh them on a quiet machine
with `--out benchmarks/results/reference` and commit them on purpose.

On a busy machine (1-minute load above cores + 1) it runs --quick unless --full is given.

--with-accuracy adds the recipe comparisons (accuracy per epoch, ours vs the classic recipe; several minutes).
Optional items, only with --only: `batch` (bench_batch_predict.py: `predict --csv` over 20,000 images vs the
per-image loop, peak RSS; several minutes on 2 cores, --quick: 4,000 images).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOCAL = HERE / "results" / "local"  # gitignored
OUT_ENV = "RESNET_GUI_BENCH_OUT"  # read by common.results_dir() in each benchmark process

BENCHES = {
    "train": ["bench_train.py"],  # items 1 and 2
    "infer": ["bench_infer.py"],  # item 3
    "optimizer": ["bench_optimizer.py"],  # AdamW per-tensor / foreach / fused step
    "gui": ["gui_speed.py"],  # items 4, 5 and 6
    "engine": [
        "engine_speed.py",
        "--files",
        "100000",
    ],  # index 100k files, batched forward, train on demo data
}
OPTIONAL = {  # not in the default list: only with --only NAME
    "batch": ["bench_batch_predict.py"],  # predict --csv at 20k images vs the per-image loop; RSS bounded
}
ACCURACY = [
    ["recipe_compare.py", "--epochs", "5", "--per-class", "150", "--img-size", "64"],
    ["recipe_compare.py", "--epochs", "5", "--per-class", "150", "--img-size", "64", "--finetune"],
]


def summary(names: list[str], results: Path) -> int:
    """Print every ratio from the results files of `names` in `results`; returns how many goals are not met."""
    missed = 0
    print(f"\n=== summary: every ratio against its goal ({results}) ===")
    for name in names:
        f = results / f"{name}.json"
        if not f.exists():
            continue
        data = json.loads(f.read_text())
        m = data.get("machine", {})
        print(
            f"[{name}] {data.get('when')}, {m.get('gpu') or 'CPU'}, {m.get('cpus')} cores, load {m.get('load_1min')}"
        )
        if data.get("busy_note"):
            print(f"  {data['busy_note']}")
        for r in data.get("ratios", []):
            sign = "<=" if r["at_most"] else ">="
            verdict = {True: "met", False: "NOT met", None: "not measured"}[r["met"]]
            value = "n/a" if r["value"] is None else f"{r['value']:.3g}"
            print(f"  {r['name']}: {value} (goal {sign} {r['goal']:g}): {verdict}")
            missed += r["met"] is False
    return missed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes: a smoke run of every benchmark")
    ap.add_argument("--full", action="store_true", help="full sizes even when the machine is busy")
    ap.add_argument(
        "--only",
        default=",".join(BENCHES),
        help="comma-separated: " + ",".join(BENCHES) + " (default), or optional: " + ",".join(OPTIONAL),
    )
    ap.add_argument("--with-accuracy", action="store_true", help="also run the recipe comparisons")
    ap.add_argument(
        "--out",
        type=Path,
        default=LOCAL,
        help="folder for the <name>.json results (default: benchmarks/results/local, untracked)",
    )
    args = ap.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    known = {**BENCHES, **OPTIONAL}
    unknown = [n for n in names if n not in known]
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    cpus = os.cpu_count() or 1
    if load > cpus + 1 and not args.quick and not args.full:
        # Figures from a busy machine are flagged as unreliable anyway; the smaller sizes keep the whole
        # suite well inside 10 minutes even at a load of 10 on 2 cores (full sizes took 556 s there).
        print(
            f"the machine is busy (1-min load {load:.1f} on {cpus} cores): running --quick (--full to override)"
        )
        args.quick = True
    t0 = time.perf_counter()
    failed = []
    out = args.out.expanduser().resolve()
    env = {**os.environ, "PYTHONWARNINGS": "ignore", OUT_ENV: str(out)}
    for name in names:
        argv = list(known[name])
        if args.quick and name != "engine":
            argv.append("--quick")
        if args.quick and name == "engine":
            argv[-1] = "20000"
        print(f"\n=== {name}: {' '.join(argv)} ===", flush=True)
        if subprocess.call([sys.executable, str(HERE / argv[0]), *argv[1:]], env=env) != 0:
            failed.append(name)
    if args.with_accuracy:
        for argv in ACCURACY:
            print(f"\n=== {' '.join(argv)} ===", flush=True)
            if subprocess.call([sys.executable, str(HERE / argv[0]), *argv[1:]], env=env) != 0:
                failed.append(argv[0])
    missed = summary([n for n in names if n not in failed], out)
    print(f"\n{missed} goal(s) not met; total {time.perf_counter() - t0:.0f} s")
    if failed:
        print(f"FAILED to run: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
