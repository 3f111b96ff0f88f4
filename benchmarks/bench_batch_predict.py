"""Batch prediction at scale (`predict FOLDER --csv`, engine/infer/batch.py) against the per-image loop.

In this one run, on one generated folder of N demo images (default 20,000 PNGs at 32 px) and an untrained
ResNet-18 checkpoint at the same size (untrained weights are as fast as trained ones):
- loop: `Predictor.predict_one(path)` per image on a sample (default 2,000), rate extrapolated;
- batch: `predict_folder_to_csv` over the sample, then over all N, with the default workers and batch
  size (peak RSS after the sample vs after all N: memory must not grow with the folder);
- batch with other DataLoader workers (0 when the default is more, else 2): --no-alt to skip;
- `--nproc K` (optional): `predict_folder_to_csv_procs` with K processes over all N.
Peak RSS: ru_maxrss of this process (RUSAGE_SELF) and of the largest waited-for child (RUSAGE_CHILDREN:
DataLoader workers, --nproc processes). Goals: batch / loop >= 1; peak RSS all N / sample <= 1.25.

    python benchmarks/bench_batch_predict.py [--quick] [--images 20000] [--sample 2000] [--size 32]
        [--nproc 2] [--no-alt] [--keep DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import OUT_ENV, Report, scratch_dir, table

from resnet_gui.engine.data.demo import DEMO_CLASSES, make_demo_dataset


def rss_mib() -> tuple[float, float]:
    """(peak RSS of this process, of the largest finished child) in MiB (Linux: ru_maxrss is KiB)."""
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 2**20
    return (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale,
    )


class TreeRss:
    """Samples (every 0.2 s, in a thread) the RSS of this process and the sum over its live descendants
    (/proc; the sum counts pages forked workers share once per worker: an upper bound). `phase()` starts
    a new peak and returns the last one. ru_maxrss alone cannot tell the DataLoader workers apart: it is
    monotonic, and RUSAGE_CHILDREN already holds a ~470 MiB helper that `import torch` runs here."""

    def __init__(self) -> None:
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.peak = (0.0, 0.0)
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _rss(self, pid: int) -> float:
        try:
            with open(f"/proc/{pid}/statm") as f:
                return int(f.read().split()[1]) * self.page / 2**20
        except (OSError, IndexError, ValueError):
            return 0.0

    def _descendants(self) -> list[int]:
        parent: dict[int, int] = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    pass
        found, frontier = [], [os.getpid()]
        while frontier:
            kids = [p for p, pp in parent.items() if pp in frontier]
            found += kids
            frontier = kids
        return found

    def _run(self) -> None:
        while not self.done.wait(0.2):
            me = self._rss(os.getpid())
            kids = sum(self._rss(p) for p in self._descendants())
            with self.lock:
                self.peak = (max(self.peak[0], me), max(self.peak[1], kids))

    def phase(self) -> tuple[float, float]:
        with self.lock:
            last, self.peak = self.peak, (0.0, 0.0)
        return last


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"load {os.getloadavg()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4,000 images, a 1,000-image sample")
    ap.add_argument("--images", type=int, default=20000)
    ap.add_argument("--sample", type=int, default=2000)
    ap.add_argument("--size", type=int, default=32, help="image and model size, px")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--nproc", type=int, default=0, help="also time --nproc K (0: skip)")
    ap.add_argument("--no-alt", action="store_true", help="skip the run with other DataLoader workers")
    ap.add_argument(
        "--keep", type=Path, default=None, help="generate into / reuse DIR instead of a temp folder"
    )
    ap.add_argument(
        "--out", type=Path, default=None, help="results folder (default: benchmarks/results/local)"
    )
    args = ap.parse_args()
    if args.out is not None:
        os.environ[OUT_ENV] = str(args.out.expanduser().resolve())
    if args.quick:
        args.images, args.sample = min(args.images, 4000), min(args.sample, 1000)
    print(f"start: {uptime()}", flush=True)
    report = Report("batch_predict")
    with tempfile.TemporaryDirectory(prefix="bench-batch-", dir=scratch_dir()) as tmp:
        base = args.keep or Path(tmp)
        folder = base / "imgs"
        per_class = -(-args.images // len(DEMO_CLASSES))
        t0 = time.perf_counter()
        make_demo_dataset(folder, per_class=per_class, size=args.size, seed=1)
        gen_s = time.perf_counter() - t0
        rss_gen = rss_mib()
        # Imported after generating, so the baseline RSS is the generator's, not torch's.
        from bench_infer import make_checkpoint

        from resnet_gui.engine.infer.batch import predict_folder_to_csv
        from resnet_gui.engine.infer.predict import Predictor, expand_inputs

        paths = [str(p) for p in expand_inputs([folder])]
        n = len(paths)
        print(
            f"generated {n} {args.size}px PNGs in {gen_s:.1f} s ({n / gen_s:.0f} img/s), "
            f"peak RSS {rss_gen[0]:.0f} MiB",
            flush=True,
        )
        ckpt = make_checkpoint(base / "model.safetensors", "resnet18", args.size, classes=len(DEMO_CLASSES))
        predictor = Predictor(ckpt, device=args.device)
        step = max(1, n // args.sample)
        sample = paths[::step][: args.sample]
        rows, fig = [], {"images": n, "sample": len(sample), "generate_s": gen_s, "size": args.size}

        fig["ru_maxrss_mib_before"] = rss_mib()
        tree = TreeRss()

        def row(name: str, count: int, wall: float, rate: float) -> dict:
            rss, phase = rss_mib(), tree.phase()
            rows.append(
                (name, count, f"{wall:.1f}", f"{rate:.0f}", f"{n / rate:.0f}")
                + (f"{rss[0]:.0f}", f"{phase[0]:.0f}", f"{phase[1]:.0f}")
            )
            return {"s": wall, "img_per_s": rate, "ru_maxrss_mib": rss, "phase_peak_mib": phase}

        tree.phase()
        t0 = time.perf_counter()
        for p in sample:
            predictor.predict_one(p)
        loop_s = time.perf_counter() - t0
        loop_rate = len(sample) / loop_s
        fig["loop"] = row("predict_one loop", len(sample), loop_s, loop_rate)

        def batch(name: str, inputs, csv_name: str, **kw) -> dict:
            out = base / csv_name
            out.unlink(missing_ok=True)
            tree.phase()
            s = predict_folder_to_csv(predictor, inputs, out, **kw)
            assert s.written == len(inputs) and s.errors == 0, s
            return {**row(name, s.written, s.wall_s, s.img_per_s), **kw}

        default_workers = predictor.plan.loader_workers
        fig["default_workers"] = default_workers
        fig["batch_sample"] = batch(f"batch, sample (workers {default_workers})", sample, "sample.csv")
        fig["batch_all"] = batch(f"batch, all (workers {default_workers})", paths, "all.csv")
        if not args.no_alt:
            alt = 0 if default_workers else 2
            fig["batch_alt_sample"] = batch(f"batch, sample (workers {alt})", sample, "alt.csv", workers=alt)
            fig["batch_alt"] = batch(f"batch, all (workers {alt})", paths, "alt.csv", workers=alt)
        if args.nproc > 1:
            from resnet_gui.engine.infer.batch_procs import predict_folder_to_csv_procs

            out = base / "procs.csv"
            out.unlink(missing_ok=True)
            tree.phase()
            s = predict_folder_to_csv_procs(ckpt, paths, out, nproc=args.nproc, device=args.device)
            assert s.written == n and s.errors == 0, s
            name = f"batch, all, --nproc {args.nproc}"
            fig["procs"] = {"nproc": args.nproc, **row(name, s.written, s.wall_s, s.img_per_s)}
        tree.done.set()
        end_load = uptime()

    print(f"\nresnet18 at {args.size} px on {predictor.device_name}, {n} images, batch size 32")
    table(
        rows,
        ("how", "images", "wall s", "img/s", f"s for {n}", "ru_maxrss", "peak RSS", "workers' RSS"),
    )
    print(
        "MiB. ru_maxrss: this process since it started (monotonic); peak RSS / workers' RSS: sampled during"
        " that row only, this process / the sum over its child processes"
    )
    print(f"end: {end_load}")
    fig["uptime_end"] = end_load
    report.figures = fig
    report.ratio(
        "batch / per-image loop, img/s",
        fig["batch_all"]["img_per_s"] / loop_rate,
        1.0,
        at_most=False,
        what=f"predict_folder_to_csv over {n} / predict_one over {len(sample)}",
    )
    report.ratio(
        "peak RSS, all images / sample",
        fig["batch_all"]["phase_peak_mib"][0] / fig["batch_sample"]["phase_peak_mib"][0],
        1.25,
        what=f"peak RSS over {n} / over {len(sample)} images, workers {default_workers} (bounded memory)",
    )
    report.finish()


if __name__ == "__main__":
    main()
