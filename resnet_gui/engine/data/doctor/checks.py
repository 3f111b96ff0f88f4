"""One pass over the files: what each image is (readable, size, mode, hashes, descriptor), and the file and
class-balance findings that follow from it (torch-free)."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

import numpy as np

from resnet_gui.engine.data.doctor import hashing
from resnet_gui.engine.data.doctor.features import image_features
from resnet_gui.engine.data.images import image_info, load_image
from resnet_gui.engine.errors import ImageLoadError

TINY_SIDE = 32  # px: below this on the short side an image carries little for a classifier
HUGE_PIXELS = 40_000_000  # decoded every epoch: slow, and a sign of a scan or a panorama in the wrong place
EXTREME_ASPECT = 4.0  # long side / short side: a centre crop sees a sliver
IMBALANCE_RATIO = 2.0  # largest / smallest class at which --balance is offered


@dataclass
class ImageFacts:
    """What one pass learnt about one file (`error` set: unreadable, the rest None)."""

    path: str
    label: int
    split: str  # "train" | "val"
    digest: str | None = None
    error: str | None = None
    width: int = 0
    height: int = 0
    mode: str = ""
    dhash: int | None = None
    phash: int | None = None
    thumb: np.ndarray | None = None  # hashing.thumbnail: confirms a near-duplicate pair
    features: np.ndarray | None = None

    @property
    def usable(self) -> bool:
        return self.error is None


def inspect_image(path: str, label: int, split: str, with_features: bool = True) -> ImageFacts:
    """Read one file once: digest, header, full decode (truncation shows here), hashes, descriptor."""
    facts = ImageFacts(path, label, split)
    try:
        facts.digest = hashing.file_digest(path)
        info = image_info(path)
        facts.width, facts.height, facts.mode = int(info["width"]), int(info["height"]), str(info["mode"])
        img = load_image(path)
    except ImageLoadError as exc:
        facts.error = exc.reason
        return facts
    except OSError as exc:
        facts.error = exc.strerror or str(exc)
        return facts
    facts.dhash = hashing.dhash(img)
    facts.phash = hashing.phash(img)
    facts.thumb = hashing.thumbnail(img)
    if with_features:
        facts.features = image_features(img)
    return facts


def file_findings(facts: list[ImageFacts]) -> dict[str, list[dict]]:
    """unreadable (truncated among them, with the reason), tiny, huge, extreme aspect, mixed mode."""
    out: dict[str, list[dict]] = {
        k: [] for k in ("unreadable", "tiny", "huge", "extreme_aspect", "mixed_mode")
    }
    modes = Counter(f.mode for f in facts if f.usable)
    usual = modes.most_common(1)[0][0] if modes else ""
    for f in facts:
        if not f.usable:
            out["unreadable"].append(
                {"path": f.path, "reason": f.error, "truncated": "truncat" in (f.error or "")}
            )
            continue
        short, long = sorted((f.width, f.height))
        if short < TINY_SIDE:
            out["tiny"].append({"path": f.path, "width": f.width, "height": f.height})
        if f.width * f.height > HUGE_PIXELS:
            out["huge"].append({"path": f.path, "width": f.width, "height": f.height})
        if short and long / short >= EXTREME_ASPECT:
            out["extreme_aspect"].append({"path": f.path, "width": f.width, "height": f.height})
        if len(modes) > 1 and f.mode != usual:
            out["mixed_mode"].append({"path": f.path, "mode": f.mode, "usual": usual})
    return out


def imbalance(classes: list[str], facts: list[ImageFacts]) -> dict:
    """Usable images per class, the largest/smallest ratio, the three smallest classes, and the fix."""
    counts = Counter(classes[f.label] for f in facts if f.usable)
    per_class = {c: counts.get(c, 0) for c in classes}
    smallest = sorted(per_class, key=lambda c: (per_class[c], c))[:3]
    lo, hi = min(per_class.values(), default=0), max(per_class.values(), default=0)
    ratio = (hi / lo) if lo else float("inf") if hi else 1.0
    suggest = ratio >= IMBALANCE_RATIO
    advice = (
        f"the largest class has {ratio:.1f}x the images of the smallest: train with --balance "
        "(Train tab: Balance classes) or add images to the smallest classes"
        if suggest
        else "classes are balanced enough"
    )
    return {
        "counts": per_class,
        "ratio": None if ratio == float("inf") else round(ratio, 3),
        "smallest": smallest,
        "suggest_balance": suggest,
        "advice": advice,
    }


def relpath(path: str, root: str) -> str:
    try:
        return os.path.relpath(path, root)
    except ValueError:
        return path
