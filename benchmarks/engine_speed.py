"""Engine speed figures, each measured in this one run (machines are noisy: compare ratios, not runs).

1. Dataset indexing: scan_dataset vs torchvision.datasets.ImageFolder on N empty files (neither opens them).
2. Training throughput: images/s of train() on the demo data, resnet18, CPU or GPU.
3. Inference: Predictor per-image ms (load / preprocess / forward) and batched throughput.

    python benchmarks/engine_speed.py [--files 100000] [--img-size 64] [--device auto] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Report, scratch_dir  # noqa: E402

from resnet_gui.engine.config import TrainConfig  # noqa: E402
from resnet_gui.engine.data.demo import make_demo_dataset  # noqa: E402
from resnet_gui.engine.data.scan import scan_dataset  # noqa: E402
from resnet_gui.engine.infer.bench import bench_checkpoint  # noqa: E402
from resnet_gui.engine.infer.predict import Predictor  # noqa: E402
from resnet_gui.engine.train.loop import train  # noqa: E402


def bench_scan(root: Path, n_files: int, classes: int = 10) -> dict:
    import os

    from torchvision.datasets import ImageFolder

    root.mkdir(parents=True)
    for c in range(classes):
        d = root / f"class_{c:02d}"
        d.mkdir()
        src = root / f".one-byte-{c}"  # hidden, so not listed; the files are hard links to it (fast to make)
        src.write_bytes(b"x")
        for i in range(n_files // classes):
            os.link(src, d / f"img_{i:06d}.jpg")
    t0 = time.perf_counter()
    index = scan_dataset(root, val_split=0.2)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    ImageFolder(str(root), allow_empty=True)
    tv = time.perf_counter() - t0
    return {
        "files": index.num_images,
        "scan_s": ours,
        "imagefolder_s": tv,
        "ratio_imagefolder_over_ours": tv / ours,
    }


def bench_train(data: Path, img_size: int, device: str, out: Path, epochs: int = 2) -> dict:
    r = train(
        TrainConfig(data_dir=str(data), epochs=epochs, img_size=img_size, device=device, out_dir=str(out))
    )
    return {
        "device": r.device_name,
        "img_size": img_size,
        "train_img_per_s": r.train_img_per_s,
        "epoch_s": [round(h["epoch_s"], 2) for h in r.history],
        "checkpoint": r.checkpoint,
        "val_acc": r.best_val_acc,
    }


def bench_predict(checkpoint: str, images: list[Path], device: str) -> dict:
    p = Predictor(checkpoint, device=device)
    preds = p.predict(images)
    med = {
        k: statistics.median(pr.timing_ms[k] for pr in preds)
        for k in ("load", "preprocess", "forward", "total")
    }
    batched = bench_checkpoint(checkpoint, batch_sizes=[1, 8, 32], device=device)
    return {"device": p.device_name, "per_image_ms_median": med, "batched": batched["rows"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--img-size", type=int, default=64)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    report = {}
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-engine-", dir=scratch_dir()) as tmp:
        tmp = Path(tmp)
        report["scan"] = s = bench_scan(tmp / "many", args.files)
        print(
            f"index {s['files']:,} files: {s['scan_s']:.2f}s (ImageFolder {s['imagefolder_s']:.2f}s, "
            f"x{s['ratio_imagefolder_over_ours']:.2f})"
        )
        data = make_demo_dataset(tmp / "demo", per_class=60, size=args.img_size, seed=0)
        report["train"] = t = bench_train(data, args.img_size, args.device, tmp / "runs")
        print(
            f"train resnet18 at {args.img_size}px on {t['device']}: {t['train_img_per_s']:.1f} img/s "
            f"(epochs {t['epoch_s']} s)"
        )
        images = sorted(data.rglob("*.png"))[:40]
        report["predict"] = p = bench_predict(t["checkpoint"], images, args.device)
        m = p["per_image_ms_median"]
        print(
            f"predict one image on {p['device']} (median of {len(images)}): load {m['load']:.2f} ms, "
            f"preprocess {m['preprocess']:.2f} ms, forward {m['forward']:.2f} ms, total {m['total']:.2f} ms"
        )
        for row in p["batched"]:
            print(
                f"  forward batch {row['batch_size']:3d}: {row['ms_per_image']:.2f} ms/image, "
                f"{row['img_per_s']:.0f} img/s"
            )
    Report("engine", figures=report, t0=t_start).finish()  # figures only: no goals here
    if args.json:
        print(json.dumps(report, default=str))


if __name__ == "__main__":
    main()
