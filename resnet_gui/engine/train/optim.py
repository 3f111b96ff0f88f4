"""The optimizer and its learning-rate schedule, from a TrainConfig.

The learning rate's whole walk: `TrainConfig.lr` (None: LR_FINETUNE for pretrained weights, LR_SCRATCH
otherwise) -> `base_lr` -> the head's parameter groups at that rate, the backbone's at BACKBONE_LR_FACTOR of
it when pretrained -> `torch.optim.AdamW` -> scaled every step by `lr_factor` (warm-up, then cosine).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from resnet_gui.engine.config import BACKBONE_LR_FACTOR, LR_FINETUNE, LR_SCRATCH, TrainConfig
from resnet_gui.engine.model.build import backbone_and_head_params

__all__ = ["LrSchedule", "base_lr", "build_optimizer", "build_scheduler", "load_scheduler_state", "lr_factor"]


def _pretrained(config: TrainConfig) -> bool:
    return config.pretrained not in (None, "none")


def base_lr(config: TrainConfig) -> float:
    """The peak learning rate of the head: the configured one, or the default for the recipe."""
    return config.lr or (LR_FINETUNE if _pretrained(config) else LR_SCRATCH)


#: Devices whose AdamW has a fused kernel (one pass over all parameters). On the CPU the default
#: per-tensor loop took 46.8 ms per ResNet-18 step against 9.3 ms fused (benchmarks/bench_optimizer.py:
#: 19% -> 5% of a batch-32 step at 32 px); on CUDA fused is PyTorch's fastest path too.
FUSED_DEVICES = ("cpu", "cuda")


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW (fused where the device has it); no weight decay on norms and biases; a smaller LR for a
    pretrained backbone."""
    lr = base_lr(config)
    backbone, head = backbone_and_head_params(model)
    groups = []
    for params, group_lr in (
        (backbone, lr * (BACKBONE_LR_FACTOR if _pretrained(config) else 1.0)),
        (head, lr),
    ):
        params = [p for p in params if p.requires_grad]
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]
        if decay:
            groups.append({"params": decay, "lr": group_lr, "weight_decay": config.weight_decay})
        if no_decay:
            groups.append({"params": no_decay, "lr": group_lr, "weight_decay": 0.0})
    first = next((p for g in groups for p in g["params"]), None)
    fused = first is not None and first.device.type in FUSED_DEVICES and first.is_floating_point()
    return torch.optim.AdamW(groups, fused=fused or None)


def lr_factor(step: int, total_steps: int, warmup_steps: int, shape: str = "cosine") -> float:
    """Linear warm-up then, by `shape`: cosine decay to 1% of the peak, a linear one (the triangular
    schedule of the CIFAR speed-runs), or constant."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if shape == "constant":
        return 1.0
    if shape == "linear":
        return 0.01 + 0.99 * (1.0 - progress)
    return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * progress))


class LrSchedule:
    """Picklable LambdaLR function, so the scheduler's state_dict round-trips."""

    def __init__(self, total_steps: int, warmup_steps: int, shape: str = "cosine"):
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        self.shape = shape

    def __call__(self, step: int) -> float:
        return lr_factor(step, self.total_steps, self.warmup_steps, getattr(self, "shape", "cosine"))


def build_scheduler(
    optimizer: torch.optim.Optimizer, steps_per_epoch: int, config: TrainConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    """Stepped once per batch over `config.epochs` epochs; warm-up `warmup_frac` of it, at most 2 epochs."""
    total_steps = steps_per_epoch * config.epochs
    warmup = min(int(total_steps * config.warmup_frac), steps_per_epoch * 2)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, LrSchedule(total_steps, warmup, config.schedule))


def load_scheduler_state(scheduler: torch.optim.lr_scheduler.LambdaLR, state: dict) -> None:
    """Continue a saved schedule (its step count), keeping this run's length: a continued run may be longer."""
    lengths = [(fn.total_steps, fn.warmup_steps) for fn in scheduler.lr_lambdas if isinstance(fn, LrSchedule)]
    scheduler.load_state_dict(state)
    for fn, (total, warmup) in zip(
        (fn for fn in scheduler.lr_lambdas if isinstance(fn, LrSchedule)), lengths, strict=True
    ):
        fn.total_steps, fn.warmup_steps = total, warmup
