"""What a `--resume` run continues from, read once, up front: weights, training state, the resumed config.

`resume_point(config)` loads the checkpoint named by `config.resume` (or the run's `last` when the named
file has no training state beside it) and computes the config the continued run trains with; the loop then
builds everything from `point.config` and never looks at the original again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from resnet_gui.engine.config import TrainConfig
from resnet_gui.engine.model import checkpoint as ckpt
from resnet_gui.engine.train.optim import load_scheduler_state

log = logging.getLogger(__name__)

__all__ = ["KEPT_FROM_CHECKPOINT", "ResumePoint", "resume_point", "resumed_config"]

#: What a continued run keeps from the checkpoint's own config (epochs, out_dir, device, ... may change).
KEPT_FROM_CHECKPOINT = (
    "arch",
    "lr",
    "val_split",
    "pretrained",
    "freeze_backbone",
    "augment",
    "weight_decay",
    "label_smoothing",
    "seed",
    "balance",
    "warmup_frac",
    "zero_init_residual",
    # the recipe of issue 17 (patience, monitor and last_every may change on a continued run)
    "ema",
    "progressive_resize",
    "schedule",
    "flip_tta",
)


@dataclass(frozen=True)
class ResumePoint:
    """A checkpoint to continue from. `state` is None when there is no matching training state beside it:
    the weights resume, the optimizer and schedule start fresh."""

    path: Path
    config: TrainConfig  # the config the continued run trains with
    weights: dict[str, torch.Tensor]
    meta: ckpt.CheckpointMeta
    state: dict | None

    @property
    def start_epoch(self) -> int:
        """Epochs already done."""
        if self.state:
            return int(self.state["epoch"])
        return int((self.meta.metrics or {}).get("epoch", 0))

    @property
    def history(self) -> list[dict]:
        return list(self.meta.history or [])

    @property
    def best_val_acc(self) -> float | None:
        return (self.meta.metrics or {}).get("best_val_acc")

    def restore(
        self,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LambdaLR,
        scaler: torch.amp.GradScaler | None,
        loader_rng: torch.Generator,
    ) -> None:
        """Put the optimizer, schedule (keeping this run's length), loss scaler and RNGs where they were."""
        state = self.state
        if not state:
            return
        optimizer.load_state_dict(state["optimizer"])
        load_scheduler_state(scheduler, state["scheduler"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        if "torch_rng" in state:
            torch.set_rng_state(state["torch_rng"])
        if "loader_rng" in state:
            loader_rng.set_state(state["loader_rng"])


def resumed_config(config: TrainConfig, meta: ckpt.CheckpointMeta) -> TrainConfig:
    """The resumed run keeps its architecture, image size and recipe; epochs/out/device may change."""
    saved = meta.config or {}
    keep = {k: saved[k] for k in KEPT_FROM_CHECKPOINT if k in saved}
    keep["arch"] = meta.arch
    # "pretrained" stays for the LR recipe; the weights themselves come from the checkpoint
    keep["img_size"] = meta.img_size
    return replace(config, **keep)


def resume_point(config: TrainConfig) -> ResumePoint | None:
    """Weights, training state (if any) and metadata of the run to continue; None without `config.resume`."""
    if not config.resume:
        return None
    path = Path(config.resume)
    weights, meta = ckpt.load_checkpoint(path)
    state_file = ckpt.training_state_path(path)
    if not state_file.exists():
        last = path.with_name("last.safetensors")
        if last.exists() and ckpt.training_state_path(last).exists() and last != path:
            log.info("resuming from %s (the latest state of the run %s belongs to)", last, path)
            path, state_file = last, ckpt.training_state_path(last)
            weights, meta = ckpt.load_checkpoint(path)
    state = ckpt.load_training_state(state_file) if state_file.exists() else None
    saved_epoch = (meta.metrics or {}).get("epoch")
    if state is not None and saved_epoch is not None and int(state.get("epoch", -1)) != int(saved_epoch):
        log.warning(
            "%s does not belong to %s (epoch %s vs %s): ignored",
            state_file,
            path,
            state.get("epoch"),
            saved_epoch,
        )
        state = None
    if state is None:
        log.warning("no training state beside %s: weights resume, optimizer and schedule start fresh", path)
    return ResumePoint(path, resumed_config(config, meta), weights, meta, state)
