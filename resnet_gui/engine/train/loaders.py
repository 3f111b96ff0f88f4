"""The training run's data loaders: datasets, the RAM-cache decision, the sampler, DataLoader arguments.

Worker count and pinned memory come from the device plan (engine/device.py); with the RAM cache the
loaders run in this process (the cache lives here, and augmenting cached pixels is cheap). The validation
loader yields the batches `engine.evaluate.evaluate` reads (with dataset indices, to name images).

In a multi-process run (`dist.active`) every rank builds the same datasets and the same seeded sampler;
a `GlobalBatchSampler` (train/sampler.py) gives each rank its share of every global batch of
`config.batch_size`, and each rank validates a disjoint shard of the validation split (no padding, no
duplicates: the loop sums the figures across ranks). The RAM cache is per process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, RandomSampler

from resnet_gui.engine.config import TrainConfig
from resnet_gui.engine.data.cache import CachedImageDataset, cache_budget_bytes, plan_cache
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
from resnet_gui.engine.train.distributed import SINGLE, DistContext
from resnet_gui.engine.train.sampler import GlobalBatchSampler, rank_slice

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
    dist: DistContext = SINGLE,
) -> Loaders:
    """Train and validation loaders for `index` as `config` and `plan` say; `generator` drives shuffling.
    With `dist.active`: this rank's share of each global batch, and its shard of the validation split."""
    workers = config.workers if config.workers is not None else plan.loader_workers
    budget = cache_budget_bytes() // dist.local_world if dist.active else None  # each rank caches its own
    cache = plan_cache(index, img_size, enabled=config.cache_images, budget=budget)
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
    drop_last = len(index.train) > config.batch_size * 4  # avoid a tiny last batch hurting BatchNorm
    if dist.active:  # the single-process order, each rank taking its part of every global batch
        base = sampler if sampler is not None else RandomSampler(train_ds, generator=generator)
        order = {
            "batch_sampler": GlobalBatchSampler(base, config.batch_size, dist.rank, dist.world, drop_last)
        }
    else:
        order = {"batch_size": config.batch_size, "shuffle": sampler is None, "sampler": sampler}
        order["drop_last"] = drop_last
    train_loader = DataLoader(train_ds, generator=generator, collate_fn=collate_skipping, **order, **common)
    val_loader = None
    if index.val:
        val_samples = index.val[rank_slice(len(index.val), dist.rank, dist.world)]  # all of it in one process
        if cache is not None:
            val_ds = CachedImageDataset(
                val_samples, eval_transform_uint8(img_size, mean, std), cache.side, cache
            )
        else:
            val_ds = ImageDataset(val_samples, build_eval_transform(img_size, mean, std))
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
