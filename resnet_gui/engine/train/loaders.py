"""The training run's data loaders: datasets, the RAM-cache decision, the sampler, DataLoader arguments.

Worker count and pinned memory come from the device plan (engine/device.py); with the RAM cache the
loaders run in this process (the cache lives here, and augmenting cached pixels is cheap). The validation
loader yields the batches `engine.evaluate.evaluate` reads (with dataset indices, to name images).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader

from resnet_gui.engine.config import TrainConfig
from resnet_gui.engine.data.cache import CachedImageDataset, plan_cache
from resnet_gui.engine.data.dataset import (
    ImageDataset,
    collate_skipping,
    collate_skipping_with_indices,
    make_weighted_sampler,
)
from resnet_gui.engine.data.scan import DatasetIndex
from resnet_gui.engine.data.transforms import (
    build_eval_transform,
    build_train_transform,
    eval_transform_uint8,
    train_transform_uint8,
)
from resnet_gui.engine.device import DevicePlan, EpochThreads

__all__ = ["Loaders", "make_loaders"]


@dataclass
class Loaders:
    train: DataLoader | EpochThreads  # each CPU epoch on the cores other work leaves free
    val: DataLoader | None  # None without validation images
    workers: int  # DataLoader worker processes per loader (0 with the RAM cache)


def make_loaders(
    index: DatasetIndex,
    config: TrainConfig,
    img_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    plan: DevicePlan,
    generator: torch.Generator,
) -> Loaders:
    """Train and validation loaders for `index` as `config` and `plan` say; `generator` drives shuffling."""
    workers = config.workers if config.workers is not None else plan.loader_workers
    cache = plan_cache(index, img_size, enabled=config.cache_images)
    if cache is not None:
        workers = 0  # the cache lives in this process; augmenting cached pixels is cheap
    common: dict = {"num_workers": workers, "pin_memory": plan.pin_memory, "persistent_workers": workers > 0}
    if workers > 0:
        common["prefetch_factor"] = 4
        if config.mp_context:
            common["multiprocessing_context"] = config.mp_context
    if cache is not None:
        tf = train_transform_uint8(img_size, config.augment, mean, std)
        train_ds = CachedImageDataset(index.train, tf, cache.side, cache)
    else:
        train_ds = ImageDataset(index.train, build_train_transform(img_size, config.augment, mean, std))
    sampler = make_weighted_sampler(index.train, len(index.classes), config.seed) if config.balance else None
    train_loader = DataLoader(
        train_ds,
        batch_size=config.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        drop_last=len(index.train) > config.batch_size * 4,  # avoid a tiny last batch hurting BatchNorm
        generator=generator,
        collate_fn=collate_skipping,
        **common,
    )
    val_loader = None
    if index.val:
        if cache is not None:
            val_ds = CachedImageDataset(
                index.val, eval_transform_uint8(img_size, mean, std), cache.side, cache
            )
        else:
            val_ds = ImageDataset(index.val, build_eval_transform(img_size, mean, std))
        val_loader = DataLoader(
            val_ds,
            batch_size=val_batch_size(config),
            shuffle=False,
            collate_fn=collate_skipping_with_indices,
            **common,
        )
    train = EpochThreads(train_loader, plan.max_threads) if plan.max_threads > 0 else train_loader
    return Loaders(train=train, val=val_loader, workers=workers)


def val_batch_size(config: TrainConfig) -> int:
    """Evaluation keeps no activations for backward: larger batches fit."""
    return max(config.batch_size, 64)
