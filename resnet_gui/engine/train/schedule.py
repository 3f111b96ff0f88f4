"""Progressive resizing: train at smaller images in the first epochs, at the full size at the end.

After FFCV's ResNet recipes (160 -> 192 px over the epochs, validation at the full size) and fast.ai's
progressive resizing: early epochs, while the weights are far from good, learn as much from a coarse image
at a fraction of the compute (a ResNet's cost grows with the pixel count). The size depends on the epoch
number only, so a resumed run picks up the same sizes, and every DDP rank uses the same one.

The batch is resized on the device (`resize_batch`, bilinear with antialiasing) after augmentation at the
full size, so the data pipeline, the RAM cache and the worker processes stay as they are; validation and
the saved model always use `img_size`.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from resnet_gui.engine.config import PROGRESSIVE_FULL_AT, PROGRESSIVE_START

__all__ = ["MIN_SIDE", "progressive_size", "resize_batch"]

MIN_SIDE = 16  # a ResNet downsamples 32x: below this the last feature map is under one pixel
STEP = 8  # sizes are multiples of this (friendlier to kernels than odd sizes)


def progressive_size(
    epoch: int,
    epochs: int,
    img_size: int,
    start: float = PROGRESSIVE_START,
    full_at: float = PROGRESSIVE_FULL_AT,
) -> int:
    """The training image side in `epoch` (1-based) of `epochs`: `start * img_size` in the first epoch,
    growing linearly to `img_size` at epoch ceil(full_at * epochs), and `img_size` from there on."""
    full_epoch = max(1, math.ceil(full_at * epochs))
    if epoch >= full_epoch or img_size <= MIN_SIDE:
        return img_size
    frac = start + (1.0 - start) * (epoch - 1) / max(1, full_epoch - 1)
    side = round(img_size * frac / STEP) * STEP
    return int(min(img_size, max(MIN_SIDE, side)))


def resize_batch(images: torch.Tensor, side: int) -> torch.Tensor:
    """A batch (N, C, H, W) resized to `side` x `side`; unchanged when it already is."""
    if images.shape[-1] == side and images.shape[-2] == side:
        return images
    return F.interpolate(images, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
