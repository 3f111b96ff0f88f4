"""Datasets as tensors: `ImageDataset` and its collate functions, the balancing sampler.

The index itself (`scan_dataset`, `DatasetIndex`, `Sample`) lives in the torch-free `scan.py`, the
preprocessing in `transforms.py`. Bad images are found later, one at a time, by `ImageDataset`, which returns a `SkippedItem` for them
instead of raising; `collate_skipping` drops those from the batch and reports them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset, WeightedRandomSampler

from resnet_gui.engine.data.images import load_image
from resnet_gui.engine.data.scan import Sample
from resnet_gui.engine.errors import ImageLoadError

log = logging.getLogger(__name__)


__all__ = [
    "ImageDataset",
    "SkippedItem",
    "collate_skipping",
    "collate_skipping_with_indices",
    "make_weighted_sampler",
]


# --- dataset and batching ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SkippedItem:
    """Stands in for an image that could not be loaded; `collate_skipping` reports it."""

    path: str
    reason: str


class ImageDataset(Dataset):
    """Samples -> (tensor, label, index); a bad file gives a SkippedItem instead of an exception."""

    def __init__(self, samples: Sequence[Sample], transform: Callable[[Any], torch.Tensor]):
        self.samples = list(samples)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int] | SkippedItem:
        sample = self.samples[i]
        try:
            image = load_image(sample.path)
        except ImageLoadError as exc:
            log.debug("skipping %s: %s", sample.path, exc.reason)
            return SkippedItem(sample.path, exc.reason)
        return self.transform(image), sample.label, i


def _split_batch(
    batch: Sequence[Any],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[tuple[str, str]]]:
    good = [item for item in batch if not isinstance(item, SkippedItem)]
    skipped = [(item.path, item.reason) for item in batch if isinstance(item, SkippedItem)]
    images = torch.stack([item[0] for item in good]) if good else torch.empty((0, 3, 0, 0))
    labels = torch.tensor([int(item[1]) for item in good], dtype=torch.long)
    indices = torch.tensor([int(item[2]) for item in good], dtype=torch.long)
    return images, labels, indices, skipped


def collate_skipping(batch: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor, list[tuple[str, str]]]:
    """Collate ImageDataset items, dropping SkippedItems: (images, labels, skipped[(path, reason)]).

    If every item was bad, `images` has shape [0, 3, 0, 0] and `labels` shape [0]: check `len(images)`.
    """
    images, labels, _, skipped = _split_batch(batch)
    return images, labels, skipped


def collate_skipping_with_indices(
    batch: Sequence[Any],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[tuple[str, str]]]:
    """Like `collate_skipping`, plus the dataset index of each kept image (to name misclassified files)."""
    return _split_batch(batch)


def make_weighted_sampler(
    samples: Sequence[Sample], num_classes: int, seed: int = 0
) -> WeightedRandomSampler:
    """Sampler drawing each class about equally often (inverse class frequency), for --balance."""
    counts = [0] * num_classes
    for s in samples:
        counts[s.label] += 1
    weights = torch.tensor([1.0 / counts[s.label] for s in samples], dtype=torch.double)
    generator = torch.Generator().manual_seed(seed)
    return WeightedRandomSampler(weights, num_samples=len(samples), replacement=True, generator=generator)
