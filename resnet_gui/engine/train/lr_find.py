"""The learning-rate finder (fastai's `lr_find`, after Leslie Smith's LR range test).

A short sweep on the training images with the exact model setup `train()` uses (architecture, pretrained
weights, frozen backbone, augmentation, AdamW groups with the backbone at BACKBONE_LR_FACTOR, AMP, the
same training step `train_one_epoch`): the learning rate grows exponentially from `start_lr` to `end_lr`
over `num_steps` batches (the data cycles when it is shorter), the loss of each batch is recorded, and the
sweep ends early once the smoothed loss passes 4x its minimum (diverged). Nothing is written to disk; the
weights are thrown away.

The suggestion is fastai's default rule, "valley": the longest stretch over which the smoothed loss keeps
falling, and a point about 1/2 of the way down it. `steepest` (the steepest fall of the smoothed loss
against log LR, over a tenth of the sweep) and the LR of the lowest loss are returned as well.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import torch

from resnet_gui.engine.config import IMAGENET_MEAN, IMAGENET_STD, TrainConfig
from resnet_gui.engine.data.scan import auto_img_size, scan_dataset
from resnet_gui.engine.device import device_name, device_plan, plan_settings, resolve_device
from resnet_gui.engine.errors import EngineError
from resnet_gui.engine.model.build import build_model
from resnet_gui.engine.train.epoch import train_one_epoch, training_criterion
from resnet_gui.engine.train.loaders import make_loaders
from resnet_gui.engine.train.optim import base_lr, build_optimizer

log = logging.getLogger(__name__)

__all__ = ["LrFindResult", "LrFindStep", "lr_find", "smooth", "steepest_index", "valley_index"]

START_LR, END_LR = 1e-7, 10.0
MAX_STEPS = 100
SMOOTHING = 0.98  # fastai's: an exponential moving average with bias correction
DIVERGE_FACTOR = 4.0  # stop once the smoothed loss is this many times its minimum


@dataclass(frozen=True)
class LrFindStep:
    """Progress of a sweep (a few per second): the batch just done, its LR and (smoothed) loss."""

    step: int
    steps: int
    lr: float
    loss: float
    smoothed: float


@dataclass
class LrFindResult:
    """A sweep: `lrs[i]` is the head's learning rate of batch i, `losses[i]` its training loss."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float | None  # the "valley" rule (module docstring); None if the sweep was too short
    steepest: float | None
    min_loss_lr: float | None  # where the smoothed loss is lowest (a tenth of it is the classic pick)
    default_lr: float  # what training uses when no LR is given (config.LR_SCRATCH / LR_FINETUNE)
    rule: str = "valley"
    diverged: bool = False
    stopped: bool = False
    arch: str = ""
    device_name: str = ""
    img_size: int = 0
    wall_s: float = 0.0
    config: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


def smooth(losses: list[float], beta: float = SMOOTHING) -> list[float]:
    """Exponential moving average with bias correction (the first points are not pulled towards 0)."""
    out, avg = [], 0.0
    for i, x in enumerate(losses, start=1):
        avg = beta * avg + (1 - beta) * x
        out.append(avg / (1 - beta**i))
    return out


def valley_index(losses: list[float]) -> int | None:
    """fastai's "valley": the longest decreasing subsequence of the (smoothed) losses; the point a
    third plus a sixth of the way along it (so about half way down the valley)."""
    n = len(losses)
    if n < 5:
        return None
    lds = [1] * n
    max_start = max_end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return max(0, min(n - 1, max_start + int(sections) + int(sections / 2)))


def steepest_index(lrs: list[float], losses: list[float]) -> int | None:
    """Where the loss falls fastest against log LR, before its minimum and after the first tenth. Slopes
    are taken over a tenth of the sweep, not between neighbours, so single noisy batches do not win."""
    n = len(losses)
    if n < 5:
        return None
    k = max(1, n // 10)
    skip = n // 10  # the first points of a bias-corrected average rest on a few batches only
    stop = losses.index(min(losses))
    if stop - k < skip:
        return None
    slopes = {
        i: (losses[i + k] - losses[i]) / (math.log(lrs[i + k] / lrs[i]) or 1e-12)
        for i in range(skip, stop - k + 1)
    }
    return min(slopes, key=slopes.__getitem__) + k // 2  # the middle of the steepest stretch


def lr_find(
    config: TrainConfig,
    start_lr: float = START_LR,
    end_lr: float = END_LR,
    num_steps: int | None = None,
    on_event: Callable[[object], None] | None = None,
    stop: threading.Event | None = None,
) -> LrFindResult:
    """Sweep the learning rate on `config`'s data and model setup; see the module docstring.

    `num_steps` None: 100 batches, or fewer on small data (4 passes over it, at least 50 batches).
    """
    if not (0 < start_lr < end_lr):
        raise EngineError(f"the sweep needs 0 < start LR < end LR (got {start_lr:g} .. {end_lr:g})")
    problems = replace(config, lr=None).problems()
    if problems:
        raise EngineError(problems[0])
    emit = on_event or (lambda _e: None)
    stop = stop or threading.Event()
    t0 = time.perf_counter()
    device = resolve_device(config.device)
    plan = device_plan(device, amp=config.amp)
    index = scan_dataset(config.data_dir, val_split=config.val_split, seed=config.seed)
    img_size = config.img_size or auto_img_size(index)
    with (
        torch.random.fork_rng(devices=[]),
        plan_settings(plan),
    ):  # the caller's RNG and threads stay as they were
        torch.manual_seed(config.seed)
        gen = torch.Generator().manual_seed(config.seed)
        from_scratch = config.pretrained in (None, "none")
        model = build_model(
            config.arch,
            len(index.classes),
            pretrained=None if from_scratch else config.pretrained,
            freeze_backbone=config.freeze_backbone,
            zero_init_residual=config.zero_init_residual and from_scratch,
        ).to(device)
        if plan.channels_last:
            model.to(memory_format=torch.channels_last)
        loaders = make_loaders(index, config, img_size, IMAGENET_MEAN, IMAGENET_STD, plan, gen)
        per_epoch = len(loaders.train)
        steps = num_steps or min(MAX_STEPS, max(50, 4 * per_epoch))
        optimizer = build_optimizer(model, config)
        head_lr = base_lr(config)
        ratios = [g["lr"] / head_lr for g in optimizer.param_groups]  # the backbone keeps its factor
        mult = (end_lr / start_lr) ** (1 / max(1, steps - 1))

        def set_lr(lr: float) -> None:
            for g, ratio in zip(optimizer.param_groups, ratios, strict=True):
                g["lr"] = lr * ratio

        sweep = _Sweep(steps, start_lr, emit)
        set_lr(start_lr)

        class _Exponential:  # the epoch steps its scheduler once per batch; that is all it needs
            def step(self) -> None:
                set_lr(start_lr * mult ** min(sweep.done, steps - 1))

        scheduler = _Exponential()
        scaler = torch.amp.GradScaler("cuda") if plan.grad_scaler else None
        inner = threading.Event()
        while sweep.done < steps and not stop.is_set() and not sweep.diverged:
            stats = train_one_epoch(
                model,
                loaders.train,
                optimizer,
                scheduler,
                training_criterion(config),
                device,
                plan,
                freeze_backbone=config.freeze_backbone,
                scaler=scaler,
                stop=inner,
                on_step=lambda _s, _n, loss, _seen: sweep.record(
                    optimizer.param_groups[-1]["lr"] / ratios[-1], float(loss), inner, stop
                ),
                on_skipped=lambda _items: None,
            )
            if stats["seen"] == 0:
                raise EngineError("none of the training images could be read")
        sweep.flush()
    smoothed = smooth(sweep.losses)
    lrs = sweep.lrs
    v, s = valley_index(smoothed), steepest_index(lrs, smoothed)
    m = smoothed.index(min(smoothed)) if smoothed else None
    result = LrFindResult(
        lrs=lrs,
        losses=sweep.losses,
        smoothed=smoothed,
        suggestion=lrs[v] if v is not None else None,
        steepest=lrs[s] if s is not None else None,
        min_loss_lr=lrs[m] if m is not None else None,
        default_lr=base_lr(replace(config, lr=None)),
        diverged=sweep.diverged,
        stopped=stop.is_set(),
        arch=config.arch,
        device_name=device_name(device),
        img_size=img_size,
        wall_s=time.perf_counter() - t0,
        config={k: v for k, v in config.to_json().items() if k not in ("out_dir", "resume", "run_name")},
    )
    log.info("lr_find: %d steps, suggestion %s, %.1f s", len(lrs), result.suggestion, result.wall_s)
    return result


class _Sweep:
    """What the sweep has seen; ends the epoch (`inner` flag) when done, diverged or stopped."""

    def __init__(self, steps: int, start_lr: float, emit: Callable[[object], None]):
        self.steps, self.emit = steps, emit
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.done = 0
        self.diverged = False
        self._avg = 0.0
        self._best = math.inf
        self._last_emit = 0.0

    def record(self, lr: float, loss: float, inner: threading.Event, stop: threading.Event) -> None:
        self.done += 1
        if not math.isfinite(loss):
            self.diverged = True
        else:
            self.lrs.append(lr)
            self.losses.append(loss)
            self._avg = SMOOTHING * self._avg + (1 - SMOOTHING) * loss
            smoothed = self._avg / (1 - SMOOTHING ** len(self.losses))
            self._best = min(self._best, smoothed)
            if len(self.losses) > 5 and smoothed > DIVERGE_FACTOR * self._best:
                self.diverged = True
            now = time.monotonic()
            if now - self._last_emit > 0.1 or self.done >= self.steps:
                self._last_emit = now
                self.emit(LrFindStep(self.done, self.steps, lr, loss, smoothed))
        if self.done >= self.steps or self.diverged or stop.is_set():
            inner.set()

    def flush(self) -> None:
        if self.losses:
            self.emit(
                LrFindStep(self.done, self.steps, self.lrs[-1], self.losses[-1], smooth(self.losses)[-1])
            )
