"""The one augmentation recipe: train and eval preprocessing, for PIL images and for cached uint8 tensors.

Each preset is one row of numbers in `PRESETS` (as torchvision's references/classification/presets.py
keeps one class per preset); the PIL path (`build_train_transform`, decoding every epoch) and the cache path
(`train_transform_uint8`, on pixels decoded once) build the same steps from it, so they draw the same
random numbers and give the same tensors. Evaluation resizes the short side to `eval_resize_size(img_size)`
(the classic 256 -> 224 ratio, scaled) and centre-crops `img_size`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torchvision import transforms as T

from resnet_gui.engine.config import AUGMENT_PRESETS, IMAGENET_MEAN, IMAGENET_STD
from resnet_gui.engine.errors import EngineError

__all__ = [
    "PRESETS",
    "Preset",
    "build_eval_transform",
    "build_train_transform",
    "eval_resize_size",
    "eval_transform_uint8",
    "train_transform_uint8",
]


@dataclass(frozen=True)
class Preset:
    """One augmentation preset; `crop_scale=None` means no augmentation (the eval transform)."""

    crop_scale: tuple[float, float] | None = None  # RandomResizedCrop: share of the image's area
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)  # RandomResizedCrop: aspect ratio range
    hflip: bool = False
    rotation: float = 0.0  # degrees either way; the corners get the mean colour (zero after Normalize)
    color_jitter: tuple[float, float, float, float] | None = None  # brightness, contrast, saturation, hue
    erasing: float = 0.0  # RandomErasing probability, on the normalised tensor


#: One row per name in config.AUGMENT_PRESETS.
PRESETS: dict[str, Preset] = {
    "none": Preset(),
    # scale=(0.6, 1): the default 0.08 crops away the object on small images, and in a 10-epoch run lighter
    # crops learn faster: (0.6, 1) beat (0.35, 1) on 5 of 5 seeds, +2.4 points on the demo and +6.1 on the
    # fine-grained set (benchmarks/recipe_time.py --screen crop6, docs/PERFORMANCE.md); "strong" keeps 0.35
    "light": Preset(crop_scale=(0.6, 1.0), hflip=True),
    "strong": Preset(
        crop_scale=(0.35, 1.0), hflip=True, rotation=15, color_jitter=(0.3, 0.3, 0.3, 0.05), erasing=0.25
    ),
}


def eval_resize_size(img_size: int) -> int:
    """The short side an image is resized to before the eval centre crop: img_size * 256/224."""
    return round(img_size * 256 / 224)


def _preset(augment: str) -> Preset:
    if augment not in AUGMENT_PRESETS or augment not in PRESETS:
        raise EngineError(f"augment must be one of {', '.join(AUGMENT_PRESETS)}, not {augment!r}")
    return PRESETS[augment]


def _augmented(
    preset: Preset, img_size: int, to_float: list[Any], mean: Sequence[float], std: Sequence[float]
) -> Callable[[Any], torch.Tensor]:
    """The preset's steps around `to_float` (PIL -> tensor, or uint8 -> float), then Normalize."""
    steps: list[Any] = [
        T.RandomResizedCrop(img_size, scale=preset.crop_scale, ratio=preset.crop_ratio, antialias=True)
    ]
    if preset.hflip:
        steps.append(T.RandomHorizontalFlip())
    if preset.rotation:
        steps.append(T.RandomRotation(preset.rotation, fill=[round(m * 255) for m in mean]))
    if preset.color_jitter:
        steps.append(T.ColorJitter(*preset.color_jitter))
    steps += [*to_float, T.Normalize(mean, std)]
    if preset.erasing:
        steps.append(T.RandomErasing(p=preset.erasing))
    return T.Compose(steps)


def build_eval_transform(
    img_size: int, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> Callable[[Any], torch.Tensor]:
    """PIL image -> Resize(eval_resize_size) -> CenterCrop(img_size) -> tensor -> normalise."""
    return T.Compose(
        [T.Resize(eval_resize_size(img_size)), T.CenterCrop(img_size), T.ToTensor(), T.Normalize(mean, std)]
    )


def build_train_transform(
    img_size: int,
    augment: str = "light",
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Callable[[Any], torch.Tensor]:
    """Training transform of a PIL image for an augmentation preset: "none", "light" or "strong"."""
    preset = _preset(augment)
    if preset.crop_scale is None:
        return build_eval_transform(img_size, mean, std)
    return _augmented(preset, img_size, [T.ToTensor()], mean, std)


def eval_transform_uint8(
    img_size: int, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> Callable[[torch.Tensor], torch.Tensor]:
    """`build_eval_transform` on a cached uint8 image, already resized to `eval_resize_size(img_size)`."""
    return T.Compose([T.CenterCrop(img_size), T.ConvertImageDtype(torch.float32), T.Normalize(mean, std)])


def train_transform_uint8(
    img_size: int,
    augment: str = "light",
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """`build_train_transform` on a cached uint8 tensor instead of a PIL image."""
    preset = _preset(augment)
    if preset.crop_scale is None:
        return eval_transform_uint8(img_size, mean, std)
    return _augmented(preset, img_size, [T.ConvertImageDtype(torch.float32)], mean, std)
