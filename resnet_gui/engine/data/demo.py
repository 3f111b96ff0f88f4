"""A small synthetic dataset, so the app has something to train on before the user brings photos.

Four shapes drawn with Pillow on varied backgrounds. Every image has its own numpy Generator seeded
from (seed, split, class, index), so the same arguments always give byte-identical PNG files.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from resnet_gui.engine.errors import EngineError

log = logging.getLogger(__name__)

DEMO_CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "star")
DEMO_VERSION = 1
_DEFAULT_DIR_NAME = f"demo-data-v{DEMO_VERSION}"
_DEFAULT_PER_CLASS = 200  # ~20 steps per epoch at batch 32: enough to learn from scratch in a few epochs
_DEFAULT_SIZE = 64
_COMPLETE_MARKER = ".complete"  # hidden, so scan_dataset ignores it
_SUPERSAMPLE = 2  # draw at 2x and downsample: smooth edges at little cost
_SPLIT_IDS = {"all": 0, "train": 1, "val": 2}
# How hard the images are: shape radius (fraction of the side), how far its centre may stray from the
# middle, background texture amplitude, pixel noise, distractor-line probability, fill/background contrast.
# Tuned so a ResNet-18 from scratch learns it within a few epochs: random hues at full strength (both
# polarities) kept it near chance for 150 steps; muted backgrounds with lighter shapes learn ~3x faster.
_RADIUS = (0.32, 0.42)
_JITTER = 0.15
_TEXTURE = 20.0
_NOISE_MAX = 3.0
_LINE_P = 0.15
_MIN_CONTRAST = 110.0  # every channel of the fill is at least this much above the background's mean
_BG_MAX_LUMA = 90.0
_BG_SATURATION = 0.5


def make_demo_dataset(
    out: str | os.PathLike,
    per_class: int = 40,
    size: int = 64,
    seed: int = 0,
    with_val: bool = False,
) -> Path:
    """Write the demo dataset to `out` and return its path.

    Layout: out/<class>/<class>_0000.png, or with `with_val` out/train/<class>/... plus out/val/<class>/...
    (max(2, per_class // 4) images per class in val). Same arguments -> byte-identical files.
    """
    if per_class < 1:
        raise EngineError(f"per_class must be at least 1, not {per_class}")
    if not 16 <= size <= 1024:
        raise EngineError(f"size must be between 16 and 1024 pixels, not {size}")
    root = Path(out).expanduser()
    if root.exists() and not root.is_dir():
        raise EngineError(f"{root} is a file; the demo dataset needs a folder")
    splits = {"train": per_class, "val": max(2, per_class // 4)} if with_val else {"all": per_class}
    try:
        for split, count in splits.items():
            base = root if split == "all" else root / split
            for class_id, name in enumerate(DEMO_CLASSES):
                folder = base / name
                folder.mkdir(parents=True, exist_ok=True)
                for i in range(count):
                    rng = np.random.default_rng([seed, _SPLIT_IDS[split], class_id, i])
                    image = draw_shape(name, size, rng)
                    image.save(folder / f"{name}_{i:04d}.png", format="PNG")
        _write_readme(root, splits, size, seed)
    except OSError as exc:
        raise EngineError(f"cannot write the demo dataset to {root}: {exc.strerror or exc}") from exc
    log.info("demo dataset written to %s (%s)", root, ", ".join(f"{k}: {v}/class" for k, v in splits.items()))
    return root


def default_demo_dir() -> Path:
    """The app's built-in demo dataset in the user cache dir, generated on first use."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    target = Path(cache) / "resnet-gui" / _DEFAULT_DIR_NAME
    if (target / _COMPLETE_MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not (target / _COMPLETE_MARKER).is_file():  # half-written: move it aside
        stale = Path(tempfile.mkdtemp(prefix=f".{_DEFAULT_DIR_NAME}.stale-", dir=target.parent))
        os.replace(target, stale / "old")
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{_DEFAULT_DIR_NAME}.tmp-", dir=target.parent))
    try:
        make_demo_dataset(tmp, per_class=_DEFAULT_PER_CLASS, size=_DEFAULT_SIZE, seed=0)
        (tmp / _COMPLETE_MARKER).write_text(f"{DEMO_VERSION}\n", encoding="utf-8")
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / _COMPLETE_MARKER).is_file():  # not a concurrent winner: a real failure
                raise
            log.debug("another process created %s first", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# --- drawing -------------------------------------------------------------------------------------------


def draw_shape(name: str, size: int, rng: np.random.Generator) -> Image.Image:
    """One RGB demo image of shape `name`, every random choice taken from `rng`."""
    big = size * _SUPERSAMPLE
    background = _background(big, rng)
    fill = _contrasting_colour(background.reshape(-1, 3).mean(axis=0), rng)
    image = Image.fromarray(background, "RGB")
    draw = ImageDraw.Draw(image)

    radius = big * rng.uniform(*_RADIUS)
    margin = radius * 1.12  # stars and triangles reach 1.1 * radius
    lo, hi = max(margin, big * (0.5 - _JITTER)), min(big - margin, big * (0.5 + _JITTER))
    cx = rng.uniform(lo, max(lo, hi))
    cy = rng.uniform(lo, max(lo, hi))
    angle = rng.uniform(0, 2 * math.pi)
    outline = tuple(int(c) for c in np.clip(np.array(fill) * rng.uniform(0.4, 0.8), 0, 255))
    width = int(rng.integers(0, 3)) * _SUPERSAMPLE

    if name == "circle":
        ry = radius * rng.uniform(0.85, 1.0)  # slightly oval at most, never a line
        draw.ellipse([cx - radius, cy - ry, cx + radius, cy + ry], fill=fill, outline=outline, width=width)
    else:
        points = _polygon(name, cx, cy, radius, angle, rng)
        draw.polygon(points, fill=fill, outline=outline if width else None, width=max(width, 1))

    for _ in range(int(rng.integers(0, 3)) if rng.random() < _LINE_P else 0):
        x0, y0, x1, y1 = rng.uniform(0, big, size=4)
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        draw.line([x0, y0, x1, y1], fill=colour, width=int(rng.integers(1, 3)) * _SUPERSAMPLE)

    image = image.resize((size, size), Image.Resampling.BOX)
    sigma = rng.uniform(0.0, _NOISE_MAX)
    pixels = np.asarray(image, dtype=np.float32) + rng.normal(0.0, sigma, size=(size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def _polygon(
    name: str, cx: float, cy: float, radius: float, angle: float, rng: np.random.Generator
) -> list[tuple[float, float]]:
    if name == "square":
        n, radii = 4, np.full(4, radius)
    elif name == "triangle":
        n, radii = 3, np.full(3, radius * 1.1)
    elif name == "star":
        inner = radius * rng.uniform(0.38, 0.5)
        n, radii = 10, np.where(np.arange(10) % 2 == 0, radius * 1.1, inner)
    else:
        raise ValueError(f"unknown demo shape {name!r}")
    theta = angle + 2 * math.pi * np.arange(n) / n
    xs = cx + radii * np.cos(theta)
    ys = cy + radii * np.sin(theta)
    return [(float(x), float(y)) for x, y in zip(xs, ys, strict=True)]


def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    """Flat, linear gradient or smooth noise texture in a dim colour, as uint8 HxWx3."""
    kind = rng.integers(0, 3)
    c0 = _dim_colour(rng)
    if kind == 0:
        return np.broadcast_to(c0.astype(np.uint8), (size, size, 3)).copy()
    if kind == 1:
        c1 = np.clip(c0 + rng.uniform(-_TEXTURE, _TEXTURE, size=3) * 1.5, 0, 255)
        direction = rng.uniform(0, 2 * math.pi)
        coords = np.linspace(-0.5, 0.5, size, dtype=np.float32)
        t = np.cos(direction) * coords[None, :] + np.sin(direction) * coords[:, None] + 0.5
        t = np.clip(t, 0, 1)[..., None]
        return (c0 * (1 - t) + c1 * t).astype(np.uint8)
    cells = int(rng.integers(3, 9))
    coarse = rng.uniform(-_TEXTURE, _TEXTURE, size=(cells, cells, 3)) + c0
    texture = Image.fromarray(np.clip(coarse, 0, 255).astype(np.uint8), "RGB")
    return np.asarray(texture.resize((size, size), Image.Resampling.BILINEAR)).copy()


def _dim_colour(rng: np.random.Generator) -> np.ndarray:
    """A muted background colour: any hue, limited brightness and saturation."""
    colour = rng.uniform(0, 255, size=3)
    gray = colour.mean()
    colour = gray + rng.uniform(0.3, _BG_SATURATION) * (colour - gray)
    luma = _luma(colour)
    if luma > _BG_MAX_LUMA:
        colour = colour * (_BG_MAX_LUMA / luma)
    return colour


def _contrasting_colour(mean: np.ndarray, rng: np.random.Generator) -> tuple[int, int, int]:
    """A random fill colour brighter than the background in every channel, so the silhouette stands out."""
    low = np.minimum(np.asarray(mean, dtype=np.float64) + _MIN_CONTRAST, 255.0)
    colour = low + rng.uniform(0.0, 1.0, size=3) * (255.0 - low)
    return int(colour[0]), int(colour[1]), int(colour[2])


def _luma(rgb: np.ndarray) -> float:
    return float(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])


def _write_readme(root: Path, splits: dict[str, int], size: int, seed: int) -> None:
    per_class = splits.get("all", splits.get("train"))
    layout = (
        "\n".join(f"  {split}/<class>/<class>_NNNN.png   {n} per class" for split, n in splits.items())
        if "all" not in splits
        else f"  <class>/<class>_NNNN.png   {splits['all']} per class"
    )
    text = f"""resnet-gui demo dataset (version {DEMO_VERSION})

Synthetic {size}x{size} PNG images of {len(DEMO_CLASSES)} shapes: {", ".join(DEMO_CLASSES)}.
Each image varies the shape's position, size, rotation, fill and outline colour, the background
(flat colour, gradient or smooth noise texture), adds occasional distractor lines and pixel noise.
Shapes are always lighter than their muted background, so the outline, not the colour, tells the
classes apart. Generated with seed {seed}: the same seed always gives byte-identical files.

Layout:
{layout}

Recreate with:  resnet-gui demo-data OUT_DIR --per-class {per_class} --size {size} --seed {seed}
"""
    (root / "README.txt").write_text(text, encoding="utf-8")


# --- a harder set for benchmarks: many classes, fine-grained differences, class imbalance -------------------

#: Marks inside the shape that tell the fine-grained classes apart: 0, 1 or 2 dark dots.
FINE_MARKS = (0, 1, 2)


def fine_grained_classes() -> list[str]:
    """12 class names, `<shape>-<dots>dot`: 4 shapes x 3 dot counts."""
    return [f"{shape}-{marks}dot" for shape in DEMO_CLASSES for marks in FINE_MARKS]


def make_fine_grained_dataset(
    out: str | os.PathLike, per_class: int = 40, size: int = 64, seed: int = 0, imbalance: float = 4.0
) -> Path:
    """A structured benchmark set (benchmarks/recipe_compare.py): the 4 demo shapes, each with 0, 1 or 2
    small dark dots inside it (12 classes; the dots are the fine-grained difference), and imbalanced counts:
    class k of K has `per_class * imbalance ** (-k / (K - 1))` images (at least 4), so the most common
    class has `imbalance` times as many as the rarest. Deterministic per seed, like the demo set."""
    if per_class < 4:
        raise EngineError(f"per_class must be at least 4, not {per_class}")
    root = Path(out).expanduser()
    names = fine_grained_classes()
    for k, name in enumerate(names):
        count = max(4, round(per_class * imbalance ** (-k / (len(names) - 1))))
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        shape, marks = name.split("-")[0], FINE_MARKS[k % len(FINE_MARKS)]
        for i in range(count):
            rng = np.random.default_rng([seed, 7, k, i])
            _draw_marked(shape, marks, size, rng).save(folder / f"{name}_{i:04d}.png", format="PNG")
    return root


def _draw_marked(name: str, marks: int, size: int, rng: np.random.Generator) -> Image.Image:
    big = size * _SUPERSAMPLE
    background = _background(big, rng)
    image = Image.fromarray(background, "RGB")
    draw = ImageDraw.Draw(image)
    fill = _contrasting_colour(background.reshape(-1, 3).mean(axis=0), rng)
    radius = big * rng.uniform(*_RADIUS)
    lo, hi = max(radius * 1.12, big * (0.5 - _JITTER)), min(big - radius * 1.12, big * (0.5 + _JITTER))
    cx, cy = rng.uniform(lo, max(lo, hi)), rng.uniform(lo, max(lo, hi))
    if name == "circle":
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=fill)
    else:
        draw.polygon(_polygon(name, cx, cy, radius, rng.uniform(0, 2 * math.pi), rng), fill=fill)
    dot = big * 0.06
    angle = rng.uniform(0, 2 * math.pi)
    dark = tuple(int(c * 0.25) for c in fill)
    for j in range(marks):  # one dot near the centre, or two either side of it
        offset = 0.0 if marks == 1 else radius * 0.3 * (1 if j else -1)
        x, y = cx + offset * math.cos(angle), cy + offset * math.sin(angle)
        draw.ellipse([x - dot, y - dot, x + dot, y + dot], fill=dark)
    image = image.resize((size, size), Image.Resampling.BOX)
    pixels = np.asarray(image, dtype=np.float32) + rng.normal(
        0.0, rng.uniform(0, _NOISE_MAX), (size, size, 3)
    )
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
