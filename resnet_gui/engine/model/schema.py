"""The one schema of a checkpoint's metadata, checked on every load with the same bounds as training.

A model file may come from anywhere, so its JSON header is untrusted input: `check_metadata` checks every
field `CheckpointMeta` takes (type, range, length) and names the field in its CheckpointError, before any of
them reaches a transform, a tensor or the terminal. The bounds are training's own (`engine/config.py`):
an `img_size` training would refuse is refused here too, instead of costing minutes and gigabytes per image.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from resnet_gui.engine.config import ARCHS, EPOCHS_MAX, IMG_SIZE_RANGE
from resnet_gui.engine.errors import CheckpointError

__all__ = ["MAX_CLASSES", "MAX_CLASS_NAME", "check_class_names", "check_metadata"]

#: More outputs than this is no classifier a person trains here (ImageNet-21k has 21,841).
MAX_CLASSES = 100_000
#: Characters in one class name (a folder name; file systems allow 255 bytes).
MAX_CLASS_NAME = 255
#: Normalisation: per-channel mean and std of the 3 colour channels, on 0..1 pixels.
_CHANNELS = 3
_MEAN_RANGE = (-10.0, 10.0)
_STD_RANGE = (1e-6, 10.0)


def _bad(name: str, field: str, what: str) -> CheckpointError:
    return CheckpointError(f"{name} is not a valid checkpoint: metadata field '{field}' {what}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_class_names(classes: object, name: str, field: str = "classes") -> list[str]:
    """A list of 1..MAX_CLASSES distinct, non-empty strings (not one string, whose letters would become
    classes); returns it as a list."""
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence):
        raise _bad(name, field, f"must be a list of class names, not {type(classes).__name__}")
    if not 1 <= len(classes) <= MAX_CLASSES:
        raise _bad(name, field, f"must hold 1..{MAX_CLASSES:,} names, not {len(classes):,}")
    seen: dict[str, int] = {}
    for i, c in enumerate(classes):
        if not isinstance(c, str):
            raise _bad(name, field, f"entry {i} must be a string, not {type(c).__name__}")
        if not c.strip():
            raise _bad(name, field, f"entry {i} is empty")
        if len(c) > MAX_CLASS_NAME:
            raise _bad(name, field, f"entry {i} is {len(c):,} characters long (at most {MAX_CLASS_NAME})")
        if c in seen:
            raise _bad(name, field, f"names {_short(c)} twice (entries {seen[c]} and {i})")
        seen[c] = i
    return list(classes)


def _check_channels(value: object, name: str, field: str, lo: float, hi: float) -> None:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != _CHANNELS:
        raise _bad(name, field, f"must be a list of {_CHANNELS} numbers (R, G, B), not {_short(value)}")
    for v in value:
        if not _is_number(v) or not lo <= v <= hi:
            raise _bad(name, field, f"must hold numbers in {lo:g}..{hi:g}, not {_short(v)}")


#: field -> the type it must have when present (beyond the ones checked one by one below)
_TYPED: dict[str, tuple[type, ...]] = {
    "metrics": (dict,),
    "config": (dict,),
    "history": (list,),
    "versions": (dict,),
    "created": (str,),
    "source": (str,),
    "warnings": (list,),
}


def check_metadata(data: Mapping, name: str) -> None:
    """Refuse metadata `CheckpointMeta.from_dict` must not be given: CheckpointError naming the field."""
    missing = [f for f in ("arch", "classes", "img_size") if f not in data]
    if missing:
        raise CheckpointError(f"{name}: checkpoint metadata lacks {', '.join(missing)}")
    arch = data["arch"]
    if not isinstance(arch, str) or arch not in ARCHS:
        raise _bad(name, "arch", f"must be one of {', '.join(ARCHS)}, not {_short(arch)}")
    check_class_names(data["classes"], name)
    lo, hi = IMG_SIZE_RANGE
    size = data["img_size"]
    if not _is_int(size) or not lo <= size <= hi:
        raise _bad(name, "img_size", f"must be a whole number of pixels in {lo}..{hi}, not {_short(size)}")
    if "mean" in data:
        _check_channels(data["mean"], name, "mean", *_MEAN_RANGE)
    if "std" in data:
        _check_channels(data["std"], name, "std", *_STD_RANGE)
    for field, types in _TYPED.items():
        if field in data and data[field] is not None and not isinstance(data[field], types):
            kind = " or ".join(t.__name__ for t in types)
            raise _bad(name, field, f"must be a {kind}, not {type(data[field]).__name__}")
    history = data.get("history") or []
    if any(not isinstance(row, dict) for row in history):
        raise _bad(name, "history", "must be a list of objects (one per epoch)")
    if any(not isinstance(w, str) for w in data.get("warnings") or []):
        raise _bad(name, "warnings", "must be a list of strings")
    metrics = data.get("metrics") or {}
    epoch = metrics.get("epoch")
    if epoch is not None and (not _is_int(epoch) or not 0 <= epoch <= EPOCHS_MAX):
        raise _bad(name, "metrics.epoch", f"must be a whole number in 0..{EPOCHS_MAX}, not {_short(epoch)}")
    for key in ("best_val_acc", "val_acc", "val_loss", "train_loss", "train_acc"):
        value = metrics.get(key)
        if value is not None and not _is_number(value):
            raise _bad(name, f"metrics.{key}", f"must be a number, not {_short(value)}")
    if "version" in data and not _is_int(data["version"]):
        raise _bad(name, "version", f"must be a whole number, not {_short(data['version'])}")
