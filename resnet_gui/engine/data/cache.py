"""Decode once: a RAM cache of decoded, resized uint8 images, augmented from memory every epoch.

Training decodes each file once (a large JPEG at reduced scale, `images.load_image_reduced`), resizes it
so its short side is the eval resize size (`cache_side`, i.e. img_size * 256/224) and keeps the uint8
pixels. Every later epoch crops, flips and normalises those pixels (`transforms.train_transform_uint8`):
no file reads, no JPEG decoding.
`plan_cache` turns the cache on only when the whole data set fits a RAM budget; otherwise training keeps
the decode-per-epoch path with DataLoader workers.

The cached and the uncached (`cache=None`) datasets give the same tensors for the same seed: the cache only
memoises `decode_resized`. Evaluation from the cache (`transforms.eval_transform_uint8`) equals
`transforms.build_eval_transform` on the same pixels.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable, Sequence

import torch
from torchvision.transforms import functional as TF

from resnet_gui.engine.data.dataset import ImageDataset, SkippedItem
from resnet_gui.engine.data.images import load_image_reduced
from resnet_gui.engine.data.scan import DatasetIndex, Sample, sample_image_size
from resnet_gui.engine.data.transforms import eval_resize_size
from resnet_gui.engine.errors import ImageLoadError

log = logging.getLogger(__name__)

#: The cache may take this share of physical RAM, and never more than RAM_CAP_BYTES.
RAM_FRACTION = 0.25
RAM_CAP_BYTES = 16 * 2**30

__all__ = [
    "CachedImageDataset",
    "DecodedCache",
    "cache_budget_bytes",
    "cache_side",
    "decode_resized",
    "estimate_cache_bytes",
    "plan_cache",
]


def cache_side(img_size: int) -> int:
    """Short side of a cached image: the eval Resize size, so centre crops need no further resizing."""
    return eval_resize_size(img_size)


def decode_resized(path: str, side: int) -> torch.Tensor:
    """The file as uint8 [3, H, W] with min(H, W) == side (Pillow bilinear + antialias, like `T.Resize`)."""
    img = load_image_reduced(path, side)
    return TF.pil_to_tensor(TF.resize(img, side))


def estimate_cache_bytes(n_images: int, side: int, aspect: float = 4 / 3) -> int:
    """RAM for n images at short side `side` and long/short ratio `aspect` (plus per-tensor overhead)."""
    return n_images * (3 * side * math.ceil(side * max(1.0, aspect)) + 400)


def cache_budget_bytes(total_ram: int | None = None) -> int:
    """How much RAM the cache may use: RAM_FRACTION of physical memory, at most RAM_CAP_BYTES."""
    if total_ram is None:
        try:
            total_ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):  # not POSIX: assume a modest 8 GiB machine
            total_ram = 8 * 2**30
    return int(min(RAM_CAP_BYTES, total_ram * RAM_FRACTION))


class DecodedCache:
    """path -> decoded uint8 tensor (or the SkippedItem that stood in for a bad file)."""

    def __init__(self, side: int):
        self.side = side
        self._items: dict[str, torch.Tensor | SkippedItem] = {}
        self._lock = threading.Lock()
        self.nbytes = 0
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, path: str) -> torch.Tensor | SkippedItem:
        item = self._items.get(path)
        if item is not None:
            self.hits += 1
            return item
        self.misses += 1
        try:
            item = decode_resized(path, self.side)
        except ImageLoadError as exc:
            item = SkippedItem(path, exc.reason)
        with self._lock:
            if path not in self._items:
                self._items[path] = item
                if isinstance(item, torch.Tensor):
                    self.nbytes += item.numel()
        return item


def plan_cache(
    index: DatasetIndex, img_size: int, enabled: bool = True, budget: int | None = None
) -> DecodedCache | None:
    """A cache for this data set when it fits the budget, else None (decode every epoch)."""
    if not enabled:
        return None
    n = len(index.train) + len(index.val)
    wh = sample_image_size(index, n=8)
    aspect = max(wh) / max(1, min(wh)) if wh else 4 / 3
    side = cache_side(img_size)
    need = estimate_cache_bytes(n, side, aspect)
    budget = cache_budget_bytes() if budget is None else budget
    if need > budget:
        log.info("not caching %d images (%.1f GB > budget %.1f GB)", n, need / 1e9, budget / 1e9)
        return None
    log.info("caching %d decoded images in RAM (about %.0f MB)", n, need / 1e6)
    return DecodedCache(side)


class CachedImageDataset(ImageDataset):
    """Like `dataset.ImageDataset`, on `decode_resized` pixels; memoised in `cache` when one is given."""

    def __init__(
        self,
        samples: Sequence[Sample],
        transform: Callable[[torch.Tensor], torch.Tensor],
        side: int,
        cache: DecodedCache | None = None,
    ):
        if cache is not None and cache.side != side:
            raise ValueError(f"cache holds {cache.side} px images, not {side}")
        super().__init__(samples, transform)
        self.side = side
        self.cache = cache

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int] | SkippedItem:
        sample = self.samples[i]
        if self.cache is not None:
            pixels = self.cache.get(sample.path)
        else:
            try:
                pixels = decode_resized(sample.path, self.side)
            except ImageLoadError as exc:
                pixels = SkippedItem(sample.path, exc.reason)
        if isinstance(pixels, SkippedItem):
            return pixels
        return self.transform(pixels), sample.label, i
