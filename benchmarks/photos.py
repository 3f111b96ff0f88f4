"""A folder of photo-like JPEGs (500x375 by default, like the classic tutorial data sets) for benchmarks.

Each image is smooth low-frequency colour (a blurred random field, like sky, grass, walls), a few soft
shapes in a class-dependent colour and layout, and fine sensor-like noise, saved as JPEG quality 90: the
decoder does the same work as on a camera photo of that size (about 40-60 KB per file). Deterministic per
seed. Pure numpy + Pillow, no downloads.

    python benchmarks/photos.py OUT_DIR [--classes 4] [--per-class 50] [--size 500x375] [--small N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASS_HUES = [(200, 60, 40), (40, 150, 60), (50, 80, 190), (210, 180, 40), (150, 60, 160), (60, 170, 170)]


def photo(rng: np.random.Generator, label: int, size: tuple[int, int]) -> Image.Image:
    w, h = size
    field = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)  # a coarse random scene...
    img = Image.fromarray(field).resize((w, h), Image.BICUBIC)  # ...smoothed into gradients
    draw = ImageDraw.Draw(img)
    hue = CLASS_HUES[label % len(CLASS_HUES)]
    for _ in range(3 + label % 3):
        cx, cy = rng.integers(0, w), rng.integers(0, h)
        r = int(rng.integers(min(w, h) // 10, min(w, h) // 3))
        colour = tuple(int(np.clip(c + rng.integers(-30, 30), 0, 255)) for c in hue)
        box = (cx - r, cy - r * (1 + label % 2), cx + r, cy + r)
        (draw.ellipse if label % 2 else draw.rectangle)(box, fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(1.2))
    arr = np.asarray(img).astype(np.int16) + rng.normal(0, 6, size=(h, w, 3)).astype(np.int16)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def make_photo_folder(
    out: str | Path, classes: int = 4, per_class: int = 50, size: tuple[int, int] = (500, 375), seed: int = 0
) -> Path:
    """OUT/class_k/img_NNNN.jpg; returns OUT. Existing files of the same name are overwritten."""
    out = Path(out)
    rng = np.random.default_rng(seed)
    for c in range(classes):
        d = out / f"class_{c}"
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            photo(rng, c, size).save(d / f"img_{i:04d}.jpg", quality=90)
    return out


def make_many_small_files(out: str | Path, n: int, classes: int = 10, size: int = 24) -> Path:
    """N small real PNG files (`size` px), so a browser can decode thumbnails; hard links keep it fast."""
    import os

    out = Path(out)
    rng = np.random.default_rng(0)
    per = max(1, n // classes)
    for c in range(classes):
        d = out / f"class_{c:02d}"
        d.mkdir(parents=True, exist_ok=True)
        srcs = []
        for k in range(8):  # a few distinct pictures per class, linked many times
            src = out / f".src-{c}-{k}.png"  # hidden, so not listed
            Image.fromarray(rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)).save(src)
            srcs.append(src)
        for i in range(per):
            os.link(srcs[i % len(srcs)], d / f"img_{i:06d}.png")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--per-class", type=int, default=50)
    ap.add_argument("--size", default="500x375")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    print(make_photo_folder(args.out, args.classes, args.per_class, (w, h)))


if __name__ == "__main__":
    main()
