"""The optional parts of the training recipe, in one object the loop asks at fixed points (issue 17).

EMA of the weights (train/ema.py), progressive resizing (train/schedule.py), flip-TTA at validation
(train/tta.py), early stopping (train/stopping.py) and writing `last` every k epochs. Each is off unless
its TrainConfig field turns it on, and each works with `--resume` (its state is in the history, or in
`last.state.pt`) and with several processes (every rank computes the same).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from torch import nn

from resnet_gui.engine import config as config_module
from resnet_gui.engine.config import TrainConfig
from resnet_gui.engine.errors import EngineError
from resnet_gui.engine.train.ema import RAW_MODEL_KEY, ModelEma
from resnet_gui.engine.train.schedule import progressive_size
from resnet_gui.engine.train.stopping import STOP_COMPLETED, STOP_EARLY, STOP_USER, EarlyStopping
from resnet_gui.engine.train.tta import FlipTTA

__all__ = ["Recipe", "bn_momentum", "check_recipe", "set_bn_momentum"]

#: PyTorch's BatchNorm momentum (the share of each batch's statistics in the running ones).
TORCH_BN_MOMENTUM = 0.1


def bn_momentum(steps_per_epoch: int, keep: float | None) -> float:
    """The BatchNorm momentum that leaves at most `keep` of the running statistics from before an epoch of
    `steps_per_epoch` steps (never below PyTorch's 0.1; `keep=None`: 0.1)."""
    if keep is None or steps_per_epoch < 1:
        return TORCH_BN_MOMENTUM
    return max(TORCH_BN_MOMENTUM, 1.0 - keep ** (1.0 / steps_per_epoch))


def set_bn_momentum(model: nn.Module, steps_per_epoch: int) -> float:
    """Give every BatchNorm layer of `model` the momentum `bn_momentum` chooses (config.BN_KEEP_PER_EPOCH,
    read now: benchmarks vary it); returns it."""
    momentum = bn_momentum(steps_per_epoch, config_module.BN_KEEP_PER_EPOCH)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = momentum
    return momentum


def check_recipe(config: TrainConfig, num_val: int) -> None:
    """Refuse what cannot work, with a message a user can act on."""
    if config.patience is not None and num_val == 0:
        raise EngineError(
            "early stopping (patience) needs validation images: set a validation split above 0 "
            "or add a val/ folder"
        )


class Recipe:
    """What the loop asks, epoch by epoch: the image size, the model to validate and save, the step hook,
    whether to write `last`, and whether (and why) to stop."""

    def __init__(
        self,
        cfg: TrainConfig,
        model: nn.Module,
        total_steps: int,
        img_size: int,
        start=None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.cfg, self.model, self.img_size = cfg, model, img_size
        set_bn_momentum(model, total_steps // max(1, cfg.epochs))  # statistics that keep up on small sets
        self.clock = clock
        # the run's start counts as a write: the first `last` comes by the interval (or at the end, on Stop)
        self.last_written = clock()
        self.stopping = EarlyStopping(cfg.patience, cfg.monitor)
        self.ema: ModelEma | None = None
        state = start.state if start is not None else None
        if start is not None and state and RAW_MODEL_KEY in state:
            model.load_state_dict(state[RAW_MODEL_KEY])  # the checkpoint file holds the EMA weights
        if cfg.ema:
            self.ema = ModelEma(
                model, total_steps, config_module.EMA_HALF_LIFE
            )  # read now: benchmarks vary it
            if start is not None:
                self.ema.restore(start.weights, state)
        self.reason = STOP_COMPLETED
        self.detail = ""
        # the epoch `best` comes from (as the saver judges: the first highest validation accuracy)
        self.best_epoch = EarlyStopping(None, "val_acc").best_epoch(start.history) if start else None

    def note_epoch(self, epoch: int, is_best: bool) -> None:
        if is_best:
            self.best_epoch = epoch

    # --- per epoch ---------------------------------------------------------------------------------
    def train_size(self, epoch: int) -> int | None:
        """The side training batches are resized to in `epoch`; None: as loaded (img_size)."""
        if not self.cfg.progressive_resize:
            return None
        side = progressive_size(epoch, self.cfg.epochs, self.img_size)
        return None if side == self.img_size else side

    def after_step(self):
        """The hook train_one_epoch calls after each optimizer step (None when there is nothing to do)."""
        return self.ema.update if self.ema is not None else None

    @property
    def saved_model(self) -> nn.Module:
        """The weights the checkpoint files hold: the EMA's when on, else the model's."""
        return self.ema.module if self.ema is not None else self.model

    def eval_model(self) -> nn.Module:
        """What validation runs: the saved model, mirrored too with flip-TTA."""
        return FlipTTA(self.saved_model) if self.cfg.flip_tta else self.saved_model

    def extra_state(self) -> dict:
        """Resume state beyond the checkpoint's weights (for last.state.pt)."""
        if self.ema is None:
            return {}
        raw = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        return {RAW_MODEL_KEY: raw, **self.ema.state()}

    def write_last(self, epoch: int, final: bool) -> bool:
        """Whether `epoch` writes `last` (+ resume state): always at the end of the run (`final`: Stop or
        early stopping; or the last epoch); with `last_every=K` every K epochs; by default (None) when
        LAST_INTERVAL_S have passed since the previous write (so every epoch of a run whose epochs are
        longer than that)."""
        now = self.clock()
        if final or epoch >= self.cfg.epochs:
            due = True
        elif self.cfg.last_every is not None:
            due = epoch % self.cfg.last_every == 0
        else:
            due = now - self.last_written >= config_module.LAST_INTERVAL_S  # read now: tests vary it
        if due:
            self.last_written = now
        self.unsaved = not due
        return due

    def should_stop(self, history: list[dict]) -> bool:
        """After an epoch: True (and the reason recorded) when early stopping ends the run."""
        if self.stopping.should_stop(history):
            self.reason, self.detail = STOP_EARLY, self.stopping.message(history)
            return True
        return False

    def stopped_by_user(self) -> None:
        self.reason = STOP_USER
