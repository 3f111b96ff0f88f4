"""The dataset doctor measured: label-error precision/recall at K (K = labels flipped) and planted leakage.

Data sets, all generated here (no downloads):
  demo     the app's demo shapes (4 classes, 64 px), 10% of labels flipped
  digits   digit-like images: 0-9 drawn in DejaVu fonts, random size/rotation/offset/stroke, noise (32 px)
  photos   benchmarks/photos.py's photo-like JPEGs (6 classes, 160x120)
Flipping moves a file into another class's folder (a seeded random other class), exactly what a user's
mislabelled file looks like. Leakage: a train/val demo set with exact copies and resized+JPEG copies of
train images planted in val; we count how many the report's `leakage` names and how many pairs it names
that were not planted.

    nice -n 10 python benchmarks/bench_doctor.py [--out benchmarks/results/doctor.json] [--train-epochs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resnet_gui.engine.data.demo import make_demo_dataset  # noqa: E402
from resnet_gui.engine.data.doctor.confident import precision_recall_at_k  # noqa: E402
from resnet_gui.engine.data.doctor.report import check_dataset  # noqa: E402

FONTS = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
]


def digit(rng: np.random.Generator, d: int, size: int = 32) -> Image.Image:
    fonts = [f for f in FONTS if os.path.exists(f)]
    big = size * 3
    font = ImageFont.truetype(fonts[int(rng.integers(len(fonts)))], int(big * rng.uniform(0.55, 0.8)))
    bg = int(rng.integers(0, 90))
    img = Image.new("L", (big, big), bg)
    draw = ImageDraw.Draw(img)
    ink = int(rng.integers(170, 256))
    x, y = big / 2 + rng.uniform(-0.1, 0.1) * big, big / 2 + rng.uniform(-0.1, 0.1) * big
    draw.text((x, y), str(d), fill=ink, font=font, anchor="mm", stroke_width=int(rng.integers(0, 3)))
    img = img.rotate(rng.uniform(-15, 15), resample=Image.Resampling.BILINEAR, fillcolor=bg)
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.5))).resize((size, size), Image.Resampling.BOX)
    arr = np.asarray(img, dtype=np.float32) + rng.normal(0, rng.uniform(0, 12), (size, size))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).convert("RGB")


def make_digits(out: Path, per_class: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for d in range(10):
        (out / str(d)).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            digit(rng, d).save(out / str(d) / f"{d}_{i:04d}.png")
    return out


def make_photos(out: Path, per_class: int, seed: int = 0) -> Path:
    from benchmarks.photos import make_photo_folder

    return make_photo_folder(out, classes=6, per_class=per_class, size=(160, 120), seed=seed)


def flip(root: Path, share: float, seed: int = 1) -> set[str]:
    """Move `share` of the files into another class folder; returns their new paths."""
    rng = np.random.default_rng(seed)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files = sorted(p for c in classes for p in (root / c).iterdir())
    chosen = rng.choice(len(files), int(round(len(files) * share)), replace=False)
    out = set()
    for i in chosen:
        src = files[i]
        others = [c for c in classes if c != src.parent.name]
        dst = root / others[int(rng.integers(len(others)))] / f"{src.parent.name}-{src.name}"
        shutil.move(src, dst)  # the name keeps the true class (and never collides)
        out.add(str(dst))
    return out


def train_checkpoint(root: Path, epochs: int) -> str:
    """A ResNet-18 trained on the (flipped) data itself, as a user's first run would be."""
    from resnet_gui.engine.config import TrainConfig
    from resnet_gui.engine.train.loop import train

    config = TrainConfig(
        data_dir=str(root),
        epochs=epochs,
        img_size=64,
        batch_size=32,
        workers=0,
        out_dir=str(root.parent / "runs"),
    )
    return str(train(config).checkpoint)


def measure_labels(name: str, root: Path, train_epochs: int = 0) -> dict:
    flipped = flip(root, 0.10)
    checkpoint = train_checkpoint(root, train_epochs) if train_epochs else None
    t0 = time.perf_counter()
    report = check_dataset(str(root), checkpoint)
    wall = time.perf_counter() - t0
    ranked = [x["path"] for x in report.label_issues]
    k = len(flipped)
    p, r = precision_recall_at_k(ranked, flipped, k)
    row = {
        "set": name,
        "images": report.num_files,
        "classes": len(report.classes),
        "flipped": k,
        "flagged": len(ranked),
        "precision_at_k": round(p, 3),
        "recall_at_k": round(r, 3),
        "recall_all_flagged": round(len(set(ranked) & flipped) / k, 3),
        "method": report.method,
        "wall_s": round(wall, 1),
        "load": os.getloadavg()[0],
    }
    print(json.dumps(row), flush=True)
    return row


def measure_leakage(tmp: Path, n_exact: int = 10, n_near: int = 10) -> dict:
    d = make_demo_dataset(tmp / "leak", per_class=60, size=64, seed=3, with_val=True)
    train = sorted((d / "train").rglob("*.png"))
    rng = np.random.default_rng(0)
    picks = rng.choice(len(train), n_exact + n_near, replace=False)
    planted = set()
    for j, i in enumerate(picks):
        src = train[i]
        cls = src.parent.name
        if j < n_exact:
            dst = d / "val" / cls / f"copy_{j}.png"
            shutil.copy(src, dst)
        else:
            dst = d / "val" / cls / f"near_{j}.jpg"
            Image.open(src).resize((56, 56)).save(dst, quality=85)
        planted.add((str(src), str(dst)))
    report = check_dataset(str(d))
    found = {(x["train"], x["val"]) for x in report.leakage}
    row = {
        "set": "demo train/val, planted leakage",
        "images": report.num_files,
        "planted_exact": n_exact,
        "planted_near": n_near,
        "found_exact": len({p for p in planted if p in found and p[1].endswith(".png")}),
        "found_near": len({p for p in planted if p in found and p[1].endswith(".jpg")}),
        "unplanted_pairs_reported": len(found - planted),
        "load": os.getloadavg()[0],
    }
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None)
    ap.add_argument("--per-class", type=int, default=100, help="demo and photos (digits: 60)")
    ap.add_argument(
        "--train-epochs",
        type=int,
        default=0,
        help="also train a ResNet-18 this many epochs on the flipped demo set and rank with its embeddings",
    )
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows.append(
            measure_labels("demo", make_demo_dataset(tmp / "demo", per_class=args.per_class, size=64))
        )
        rows.append(measure_labels("digits", make_digits(tmp / "digits", per_class=60)))
        rows.append(measure_labels("photos", make_photos(tmp / "photos", per_class=args.per_class)))
        if args.train_epochs:
            demo2 = make_demo_dataset(tmp / "ckpt" / "demo", per_class=args.per_class, size=64)
            rows.append(measure_labels("demo (checkpoint)", demo2, args.train_epochs))
        rows.append(measure_leakage(tmp))
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
