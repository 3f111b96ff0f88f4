"""Flip test-time augmentation for validation: each image and its mirror image, logits averaged."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FlipTTA"]


class FlipTTA(nn.Module):
    """Wraps a classifier: `forward(x) = (model(x) + model(flip(x))) / 2` (flip = left-right)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.model(x) + self.model(torch.flip(x, dims=[-1])))
