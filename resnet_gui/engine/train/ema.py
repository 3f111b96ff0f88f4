"""An exponential moving average (EMA) of a model's weights: validated and saved as the run's model.

After timm's `ModelEmaV2` and airbench's EMA: a copy of the model whose float tensors (parameters and
BatchNorm running statistics) follow the training weights, `ema = d * ema + (1 - d) * weights`, after
every optimizer step; integer buffers (`num_batches_tracked`) are copied. The decay is set from the run's
length so that its half-life is `EMA_HALF_LIFE` of the optimizer steps (a fixed 0.999 would never move on
a small data set), and is capped by `(1 + n) / (10 + n)` early on so the first weights do not linger.

With `ema` on, the checkpoint files (`last`, `best`) hold the EMA weights (what a user gets is what was
validated) and `last.state.pt` holds the raw training weights under `raw_model`, so `--resume` continues
both. Several processes (DDP): every rank keeps the same EMA (the parameters are the same after each
step); the loop broadcasts rank 0's buffers before validating, as for the model itself.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from resnet_gui.engine.config import EMA_HALF_LIFE

__all__ = ["RAW_MODEL_KEY", "ModelEma", "ema_decay"]

#: Where `last.state.pt` keeps the raw (training) weights of an EMA run.
RAW_MODEL_KEY = "raw_model"


def ema_decay(total_steps: int, half_life: float = EMA_HALF_LIFE) -> float:
    """The per-step decay whose half-life is `half_life` of `total_steps` (at least one step)."""
    steps = max(1.0, half_life * max(1, total_steps))
    return 0.5 ** (1.0 / steps)


class ModelEma:
    """The averaged copy of `model` (`self.module`, always in eval mode, no gradients)."""

    def __init__(self, model: nn.Module, total_steps: int, half_life: float = EMA_HALF_LIFE):
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = ema_decay(total_steps, half_life)
        self.updates = 0
        self._bind(model)

    def _bind(self, model: nn.Module) -> None:
        ema_sd, sd = self.module.state_dict(), model.state_dict()  # tensors sharing the models' storage
        pairs = [(ema_sd[k], sd[k]) for k in ema_sd]
        self._floats = [(e, m) for e, m in pairs if e.dtype.is_floating_point]
        self._others = [(e, m) for e, m in pairs if not e.dtype.is_floating_point]

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self) -> None:
        """One step: move the average towards the model's current weights."""
        self.updates += 1
        weight = 1.0 - self.current_decay()
        if self._floats:
            ema, cur = zip(*self._floats, strict=True)
            torch._foreach_lerp_(list(ema), list(cur), weight)
        for e, m in self._others:
            e.copy_(m)

    def state(self) -> dict:
        """What a resumed run needs besides the EMA weights themselves: the update count."""
        return {"ema_updates": self.updates}

    def restore(self, weights: dict[str, torch.Tensor], state: dict | None) -> None:
        """Continue from a checkpoint's (EMA) weights and its update count."""
        self.module.load_state_dict(weights)
        self.updates = int((state or {}).get("ema_updates", 0))
