"""What a `--resume` run continues from, read once, up front: weights, training state, the resumed config.

`resume_point(config)` loads exactly the checkpoint named by `config.resume` (with the training state
beside it when there is one of the same epoch; never a sibling file instead) and computes the config the
continued run trains with; the loop then builds everything from `point.config` and never looks at the
original again. Where the continued run writes is `saver.run_folder`'s decision.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from resnet_gui.engine.config import TrainConfig
from resnet_gui.engine.errors import CheckpointError
from resnet_gui.engine.model import checkpoint as ckpt
from resnet_gui.engine.model.weights import first_line
from resnet_gui.engine.train.optim import LrSchedule, load_scheduler_state

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
        """Put the optimizer, schedule (keeping this run's length), loss scaler and RNGs where they were.
        Without a training state (a finished run keeps none: train/saver.py) the optimizer starts fresh but
        the schedule still continues from the epochs done, rather than warming up again."""
        state = self.state
        if not state:
            self._continue_schedule(scheduler)
            return
        try:
            optimizer.load_state_dict(state["optimizer"])
            load_scheduler_state(scheduler, state["scheduler"])
            if scaler is not None and state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            if "torch_rng" in state:
                torch.set_rng_state(state["torch_rng"])
            if "loader_rng" in state:
                loader_rng.set_state(state["loader_rng"])
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
            name = ckpt.training_state_path(self.path).name
            raise CheckpointError(f"{name} does not fit this run: {first_line(exc)}") from exc

    def _continue_schedule(self, scheduler: torch.optim.lr_scheduler.LambdaLR) -> None:
        """Move a fresh schedule to the step after `start_epoch` epochs (the learning rates it sets)."""
        fns = [fn for fn in scheduler.lr_lambdas if isinstance(fn, LrSchedule)]
        if not fns or self.config.epochs < 1 or self.start_epoch < 1:
            return
        step = fns[0].total_steps // self.config.epochs * self.start_epoch
        scheduler.last_epoch = step
        for group, base, fn in zip(
            scheduler.optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas, strict=True
        ):
            group["lr"] = base * fn(step)
        scheduler._last_lr = [g["lr"] for g in scheduler.optimizer.param_groups]


def _check_kept(saved: dict, name: str) -> None:
    """The settings a resumed run keeps must have the type training gives them (the file is untrusted)."""
    from resnet_gui.engine.config import DEFAULTS

    for key in KEPT_FROM_CHECKPOINT:
        if key not in saved or key == "arch":
            continue
        value, default = saved[key], getattr(DEFAULTS, key)
        expected = (float, int) if isinstance(default, float) or key == "lr" else (type(default),)
        ok = (value is None and key == "lr") or (
            isinstance(value, expected) and (isinstance(default, bool) or not isinstance(value, bool))
        )
        if not ok:
            raise CheckpointError(
                f"{name} is not a valid checkpoint: metadata field 'config.{key}' has an unusable value "
                f"{value!r:.40}"
            )


def resumed_config(
    config: TrainConfig, meta: ckpt.CheckpointMeta, name: str = "the checkpoint"
) -> TrainConfig:
    """The resumed run keeps its architecture, image size and recipe; epochs/out/device may change.
    Settings it keeps are checked as any config is (CheckpointError naming the field)."""
    saved = meta.config or {}
    _check_kept(saved, name)
    keep = {k: saved[k] for k in KEPT_FROM_CHECKPOINT if k in saved}
    keep["arch"] = meta.arch
    # "pretrained" stays for the LR recipe; the weights themselves come from the checkpoint
    keep["img_size"] = meta.img_size
    resumed = replace(config, **keep)
    problems = resumed.problems()
    if problems:
        raise CheckpointError(f"{name} cannot be continued: its saved settings are invalid ({problems[0]})")
    return resumed


def resume_point(config: TrainConfig) -> ResumePoint | None:
    """Weights, training state (if any) and metadata of the run to continue; None without `config.resume`."""
    if not config.resume:
        return None
    path = Path(config.resume)
    weights, meta = ckpt.load_checkpoint(path)
    state_file = ckpt.training_state_path(path)
    state = ckpt.load_training_state(state_file) if state_file.exists() else None
    saved_epoch = (meta.metrics or {}).get("epoch")
    state_epoch = state.get("epoch") if state is not None else None
    if state is not None and not isinstance(state_epoch, int):
        raise CheckpointError(f"{state_file.name} is not a training state: it has no epoch count")
    if state is not None and saved_epoch is not None and state_epoch != int(saved_epoch):
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
    return ResumePoint(path, resumed_config(config, meta, path.name), weights, meta, state)
