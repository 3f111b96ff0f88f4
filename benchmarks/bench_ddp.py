"""Multi-process training (DDP) on this machine: images/s with 1 process and with N, and the scaling
efficiency = img/s(N) / (N x img/s(1)).

Both runs are the same command line, `resnet-gui train DATA --json` (the second with `--nproc N`): the
same global batch, the same recipe. The figure is the last epoch's img/s (the first one also decodes the
images into the RAM cache), counted over all ranks. On a CPU the ranks share the cores (each plans with
its share, engine/device.py), so little or no gain is expected there: DDP pays off with one GPU per rank.
Quick mode (the default): resnet18, 64 px, 2 epochs on 4 x 40 demo images. Writes only under
benchmarks/results/local/ (untracked).

    python benchmarks/bench_ddp.py [--nproc 2] [--full] [--device cpu|cuda] [--img-size 64]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, Report, load_1min, scratch_dir, table

from resnet_gui.engine.data.demo import make_demo_dataset


def run(data: Path, out: Path, nproc: int, args) -> dict:
    cmd = [sys.executable, "-m", "resnet_gui", "train", str(data), "--epochs", str(args.epochs)]
    cmd += ["--batch-size", str(args.batch_size), "--img-size", str(args.img_size), "--device", args.device]
    cmd += ["--out", str(out), "--json", "--nproc", str(nproc)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--full", action="store_true", help="4 x 150 images, 3 epochs (quick: 4 x 40, 2)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--img-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args()
    args.epochs = 3 if args.full else 2
    report = Report("bench_ddp")
    with tempfile.TemporaryDirectory(dir=scratch_dir()) as tmp:
        data = make_demo_dataset(Path(tmp) / "shapes", per_class=150 if args.full else 40, size=args.img_size)
        rows, rate = [], {}
        for n in (1, args.nproc):
            load = load_1min()
            res = run(data, Path(tmp) / f"runs{n}", n, args)
            rate[n] = res["history"][-1]["img_per_s"]
            rows.append((n, f"{rate[n]:.1f}", f"{res['train_img_per_s']:.1f}", f"{res['wall_s']:.1f}", load))
            report.figures[f"nproc_{n}"] = {
                "last_epoch_img_per_s": rate[n],
                "train_img_per_s": res["train_img_per_s"],
                "wall_s": res["wall_s"],
                "device_name": res["device_name"],
                "load_1min_before": load,
            }
    table(rows, ("processes", "img/s (last epoch)", "img/s (all epochs)", "wall s", "load before"))
    eff = rate[args.nproc] / (args.nproc * rate[1]) if rate[1] else None
    report.figures["scaling_efficiency"] = eff
    report.ratio(
        f"scaling efficiency, {args.nproc} processes",
        eff,
        goal=0.5 if args.device == "cpu" else 0.85,
        at_most=False,
        what=f"img/s({args.nproc}) / ({args.nproc} x img/s(1)); on a CPU the ranks share the cores",
    )
    report.finish()


if __name__ == "__main__":
    main()
