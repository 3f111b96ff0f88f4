"""The LR finder's suggestion vs the automatic default LR: final validation accuracy after the same short
training, on the demo shapes and on photo-like JPEGs (benchmarks/photos.py). Same split, seed, epochs.

    nice -n 10 python benchmarks/lr_find_compare.py [--epochs 4] [--per-class 40] [--img-size 48] [--json OUT]

Prints one row per data set: the sweep's suggestion (fastai's valley rule) and the run's time, the default
LR (config.LR_SCRATCH), and each run's final and best validation accuracy. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from photos import make_photo_folder  # noqa: E402

from resnet_gui.engine.config import TrainConfig  # noqa: E402
from resnet_gui.engine.data.demo import make_demo_dataset  # noqa: E402
from resnet_gui.engine.train.loop import train  # noqa: E402
from resnet_gui.engine.train.lr_find import lr_find  # noqa: E402


def compare(name: str, data: Path, args, out: Path) -> dict:
    base = TrainConfig(
        data_dir=str(data),
        epochs=args.epochs,
        img_size=args.img_size,
        batch_size=args.batch_size,
        workers=0,
        seed=args.seed,
        out_dir=str(out),
        device=args.device,
    )
    t0 = time.perf_counter()
    sweep = lr_find(base)
    sweep_s = time.perf_counter() - t0
    row = {
        "data": name,
        "suggestion": sweep.suggestion,
        "steepest": sweep.steepest,
        "min_loss_lr": sweep.min_loss_lr,
        "default_lr": sweep.default_lr,
        "sweep_steps": len(sweep.lrs),
        "sweep_s": sweep_s,
    }
    for label, lr in (("default", None), ("suggested", sweep.suggestion), ("steepest", sweep.steepest)):
        cfg = TrainConfig(**{**base.__dict__, "lr": lr, "run_name": f"{name}-{label}"})
        t0 = time.perf_counter()
        result = train(cfg)
        row[label] = {
            "lr": lr or sweep.default_lr,
            "val_acc": result.val_acc,
            "best_val_acc": result.best_val_acc,
            "train_s": time.perf_counter() - t0,
        }
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--per-class", type=int, default=40)
    ap.add_argument("--img-size", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", default=None, metavar="OUT")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shapes = make_demo_dataset(tmp / "shapes", per_class=args.per_class, size=64, seed=args.seed)
        photos = make_photo_folder(
            tmp / "photos", classes=4, per_class=args.per_class, size=(160, 120), seed=1
        )
        for name, data in (("shapes", shapes), ("photos", photos)):
            rows.append(compare(name, data, args, tmp / "runs"))
            r = rows[-1]
            print(
                f"{name:7s} suggestion {r['suggestion']:.2e} ({r['sweep_steps']} steps, {r['sweep_s']:.0f} s) | "
                f"default {r['default']['lr']:.0e}: val {r['default']['val_acc']:.3f} (best {r['default']['best_val_acc']:.3f}) | "
                f"suggested: val {r['suggested']['val_acc']:.3f} (best {r['suggested']['best_val_acc']:.3f}) | "
                f"steepest {r['steepest']['lr']:.1e}: val {r['steepest']['val_acc']:.3f} "
                f"(best {r['steepest']['best_val_acc']:.3f})",
                flush=True,
            )
    load = os.getloadavg()
    print(
        f"{args.epochs} epochs, resnet18 from scratch at {args.img_size} px, {args.per_class}/class x 4 classes; "
        f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows, "load": load}, indent=1))


if __name__ == "__main__":
    main()
