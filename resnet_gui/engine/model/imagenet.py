"""torchvision's ImageNet classifiers as models: `imagenet:resnet18` ... `imagenet:resnet152`.

Wherever a checkpoint path is accepted (predict, eval, inspect, export, bench, the app's Classify tab) such
a spec names torchvision's ImageNet weights in the torch hub cache (engine/model/hub.py fetches them), with
the 1,000 category names from the weights' metadata and the ImageNet preprocessing (resize 256, centre crop
224, ImageNet mean/std). `checkpoint.load_checkpoint` hands a spec to `load_imagenet`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from resnet_gui.engine.config import ARCHS, IMAGENET_MEAN, IMAGENET_STD, arch_label
from resnet_gui.engine.errors import CheckpointError, EngineError, PretrainedWeightsMissing

if TYPE_CHECKING:
    from torch import Tensor

    from resnet_gui.engine.model.checkpoint import CheckpointMeta
    from resnet_gui.engine.model.hub import DownloadProgress

__all__ = [
    "IMAGENET_IMG_SIZE",
    "PREFIX",
    "categories",
    "ensure_spec",
    "is_spec",
    "label",
    "load_imagenet",
    "missing_message",
    "parse_spec",
    "spec",
    "unmatched_classes_message",
]

PREFIX = "imagenet:"
#: The crop torchvision's ImageNet weights were evaluated at (the resize is 256: data/transforms.py).
IMAGENET_IMG_SIZE = 224


def is_spec(text: object) -> bool:
    """True for "imagenet:<arch>" (any case), whether or not the arch exists."""
    return isinstance(text, (str, os.PathLike)) and os.fspath(text).strip().lower().startswith(PREFIX)


def parse_spec(text: str) -> str:
    """ "imagenet:ResNet50" -> "resnet50"; EngineError listing the choices for an unknown arch."""
    text = os.fspath(text)
    arch = text.strip()[len(PREFIX) :].strip().lower().replace("-", "")
    if arch not in ARCHS:
        choices = ", ".join(spec(a) for a in ARCHS)
        raise EngineError(f"unknown ImageNet model '{text.strip()}': choose one of {choices}")
    return arch


def spec(arch: str) -> str:
    return PREFIX + arch


def label(arch: str) -> str:
    """What the app calls it: "ImageNet ResNet-50 (1,000 classes)"."""
    return f"ImageNet {arch_label(arch)} (1,000 classes)"


def categories(arch: str) -> list[str]:
    """The 1,000 ImageNet category names in output order, from torchvision's weights metadata."""
    import torchvision

    from resnet_gui.engine.model.build import check_arch

    return list(torchvision.models.get_model_weights(check_arch(arch)).DEFAULT.meta["categories"])


def missing_message(arch: str) -> str:
    """How to get the weights when they are neither cached nor downloadable."""
    from resnet_gui.engine.model.hub import cache_dir, imagenet_source

    source = imagenet_source(arch)
    return (
        f"the ImageNet weights for {arch_label(arch)} are not on this machine: with internet they download "
        f"on first use ({source.size_mb or '?'} MB from {source.url}); offline, copy {source.filename} into "
        f"{cache_dir()} (or use Import weights file… on the Train tab)"
    )


def ensure_spec(
    text: str,
    on_event: Callable[[DownloadProgress], None] | None = None,
    stop: threading.Event | None = None,
) -> Path:
    """The weights file of an "imagenet:<arch>" spec, downloaded first when it is not cached."""
    from resnet_gui.engine.model.hub import ensure_imagenet

    return ensure_imagenet(parse_spec(text), on_event, stop)


def load_imagenet(text: str) -> tuple[dict[str, Tensor], CheckpointMeta]:
    """Weights and metadata of "imagenet:<arch>" from the cache (PretrainedWeightsMissing when absent)."""
    from resnet_gui.engine.model.checkpoint import CheckpointMeta
    from resnet_gui.engine.model.hub import cached_imagenet, imagenet_sources
    from resnet_gui.engine.model.weights import check_finite, infer_arch, num_classes_of, read_state_dict

    arch = parse_spec(text)
    path = cached_imagenet(arch)
    if path is None:
        raise PretrainedWeightsMissing(missing_message(arch))
    sd, _ = read_state_dict(path)
    check_finite(path.name, sd)
    names = categories(arch)
    if infer_arch(sd) != arch or num_classes_of(sd) != len(names):
        raise CheckpointError(
            f"{path} is not torchvision's {arch_label(arch)} ImageNet file: delete it and download it again"
        )
    source = next(s for s in imagenet_sources(arch) if s.filename == path.name)
    meta = CheckpointMeta(
        arch=arch,
        classes=names,
        img_size=IMAGENET_IMG_SIZE,
        mean=list(IMAGENET_MEAN),
        std=list(IMAGENET_STD),
        metrics=_imagenet_metrics(arch, source.label),
        config={"weights": source.label, "url": source.url, "file": str(path)},
        versions={},
        created="",  # not trained here: the app shows no "trained <date>"
        source="imagenet",
    )
    return sd, meta


def _imagenet_metrics(arch: str, weights_label: str) -> dict:
    import torchvision

    enum = torchvision.models.get_model_weights(arch)
    for w in enum:
        if f"{type(w).__name__}.{w.name}" == weights_label:
            found = w.meta.get("_metrics", {}).get("ImageNet-1K", {})
            return {"imagenet_top1": found.get("acc@1"), "imagenet_top5": found.get("acc@5")}
    return {}


def unmatched_classes_message(folder: str, unknown: list[str], n_classes: int) -> str:
    """`eval` of an ImageNet model on a folder whose class names are not ImageNet categories."""
    shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
    return (
        f"{folder} has classes that are not ImageNet categories ({shown}): an ImageNet model can only be "
        f"evaluated on folders named after its {n_classes:,} categories (e.g. 'goldfish', 'tabby'); "
        "train a model on this folder instead"
    )
