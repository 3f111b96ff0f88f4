"""One epoch of training: `train_one_epoch()`, the training objective and the throttled progress events.

State comes in explicitly (model, loader, optimizer, schedule, criterion, device plan), as in torchvision's
references/classification/train.py; nothing here keeps any between epochs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import torch
from torch import nn

from resnet_gui.engine.config import TrainConfig
from resnet_gui.engine.device import DevicePlan
from resnet_gui.engine.events import StepDone
from resnet_gui.engine.model.build import set_train_mode
from resnet_gui.engine.train.distributed import SINGLE, DistContext
from resnet_gui.engine.train.schedule import resize_batch

__all__ = ["STEP_EVENTS_PER_S", "StepEvents", "train_one_epoch", "training_criterion"]

STEP_EVENTS_PER_S = 4.0


def training_criterion(config: TrainConfig) -> nn.Module:
    """The training objective: cross-entropy with the configured label smoothing. (The reported validation
    loss is plain cross-entropy: engine.evaluate.evaluate.)"""
    return nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)


def train_one_epoch(
    model: nn.Module,
    loader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    criterion: nn.Module,
    device: torch.device,
    plan: DevicePlan,
    *,
    freeze_backbone: bool,
    scaler: torch.amp.GradScaler | None,
    stop: threading.Event,
    on_step: Callable[[int, int, torch.Tensor, int], None],
    on_skipped: Callable[[list[tuple[str, str]]], None],
    dist: DistContext = SINGLE,
    resize: int | None = None,
    after_step: Callable[[], None] | None = None,
) -> dict:
    """One pass over `loader`. Returns loss, accuracy, images seen, compute seconds and whether it was stopped.

    Sums stay on the device and `on_step` gets the loss as a tensor: reading a value (`.item()`) waits for
    the GPU, so that happens only when a (throttled) progress event is actually sent, and at the end.

    Several processes (`dist.active`, `model` wrapped in DDP): before each step the ranks agree (one small
    CPU collective) whether to stop and how many images the global batch holds; each rank's loss is
    weighted by its share of them, so DDP's gradient average is the single-process gradient of the global
    batch. A step where some rank has no readable image is skipped by all. The returned loss, accuracy
    and count are summed over the ranks.

    `resize`: the batch is resized to this side on the device (progressive resizing, train/schedule.py);
    `after_step` runs after each optimizer step (the EMA's update, train/ema.py).
    """
    set_train_mode(model, freeze_backbone)
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    seen = 0
    t0 = time.perf_counter()
    steps = len(loader)
    stopped = False
    for step, (images, labels, skipped) in enumerate(loader, start=1):
        if skipped:
            on_skipped(skipped)
        weight = 1.0
        if dist.active:
            stop_any, global_count, some_empty = dist.step_flags(stop.is_set(), len(labels))
            if stop_any:
                stopped = True
                break
            if some_empty:  # DDP needs every rank in every backward pass
                scheduler.step()
                continue
            weight = len(labels) * dist.world / global_count
        if (
            len(labels) == 1
            and (skipped or step == steps)
            and not dist.active
            and _lone_image_fails(model, images)
        ):
            scheduler.step()  # BatchNorm cannot train on one 1x1 map: a last batch (or one that skipped
            continue  # files shrank) of a single small image is left out instead of ending the run
        if len(labels) > 0:
            images = plan.to_device(images, device)
            if resize:
                images = resize_batch(images, resize)
            labels = labels.to(device, non_blocking=plan.non_blocking)
            with plan.autocast(device):
                logits = model(images)
                loss = criterion(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            objective = loss * weight if weight != 1.0 else loss
            if scaler is not None:
                scaler.scale(objective).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                objective.backward()
                optimizer.step()
            if after_step is not None:
                after_step()
            loss = loss.detach()
            total_loss += loss.float() * len(labels)
            correct += (logits.argmax(1) == labels).sum()
            seen += len(labels)
            on_step(step, steps, loss, seen)
        scheduler.step()
        if stop.is_set() and not dist.active:
            stopped = True
            break
    if dist.active:
        seen_t = torch.tensor(float(seen), device=total_loss.device)
        total_loss, correct, seen_t = dist.all_sum(total_loss, correct, seen_t)
        seen = int(seen_t.item())
    total_loss, correct = total_loss.item(), correct.item()  # waits for the device: before the clock stops
    return {
        "loss": total_loss / seen if seen else float("nan"),
        "acc": correct / seen if seen else 0.0,
        "seen": seen,
        "seconds": time.perf_counter() - t0,
        "stopped": stopped,
    }


class StepEvents:
    """`on_step` for one epoch: a StepDone event at most STEP_EVENTS_PER_S times a second, and at the end."""

    def __init__(
        self, emit, epoch, epochs, optimizer, run_t0, epoch_t0, epoch_times: list[float], world: int = 1
    ):
        self.emit, self.epoch, self.epochs, self.optimizer = emit, epoch, epochs, optimizer
        self.world = world  # processes: img/s is this rank's count times the world (ranks run in step)
        self.run_t0, self.epoch_t0, self.epoch_times = run_t0, epoch_t0, epoch_times
        self.last = 0.0

    def __call__(self, step: int, steps: int, loss: torch.Tensor, seen: int) -> None:
        if step != steps and time.perf_counter() - self.last < 1.0 / STEP_EVENTS_PER_S:
            return
        loss_value = loss.item()  # waits for the device, so the rate below is honest on a GPU
        now = self.last = time.perf_counter()
        elapsed = now - self.epoch_t0
        per_step = elapsed / step
        times = self.epoch_times
        epoch_est = (sum(times) / len(times)) if times else per_step * steps
        self.emit(
            StepDone(
                epoch=self.epoch,
                epochs=self.epochs,
                step=step,
                steps=steps,
                loss=loss_value,
                lr=self.optimizer.param_groups[-1]["lr"],
                img_per_s=seen * self.world / elapsed if elapsed > 0 else 0.0,
                elapsed_s=now - self.run_t0,
                eta_s=per_step * (steps - step) + epoch_est * (self.epochs - self.epoch),
            )
        )


def _lone_image_fails(model: nn.Module, images: torch.Tensor) -> bool:
    """Whether a batch of one image would make BatchNorm raise in training mode ("Expected more than 1
    value per channel"): the last stage's map is 1x1 for images up to 32 px (at 224 px it is 7x7)."""
    has_bn = any(isinstance(m, nn.BatchNorm2d) and m.training for m in model.modules())
    return has_bn and min(images.shape[-2:]) <= 32
