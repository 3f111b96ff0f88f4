"""Training: `train(config, on_event, stop) -> TrainResult`.

A loop a reader can follow top to bottom (after torchvision's references/classification/train.py):
`train()` sets things up, `train_one_epoch()` and `evaluate()` do the work, checkpoints are written by
the main process only. Progress goes out as events (engine/events.py); `stop` (a threading.Event) is
checked after every batch.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from resnet_gui.engine import fileio
from resnet_gui.engine.config import (
    BACKBONE_LR_FACTOR,
    IMAGENET_MEAN,
    IMAGENET_STD,
    LR_FINETUNE,
    LR_SCRATCH,
    TrainConfig,
    TrainResult,
)
from resnet_gui.engine.data.cache import CachedImageDataset, plan_cache
from resnet_gui.engine.data.dataset import ImageDataset, collate_skipping, make_weighted_sampler
from resnet_gui.engine.data.scan import DatasetIndex, auto_img_size, scan_dataset
from resnet_gui.engine.data.transforms import (
    build_eval_transform,
    build_train_transform,
    eval_transform_uint8,
    train_transform_uint8,
)
from resnet_gui.engine.device import device_name, resolve_device
from resnet_gui.engine.errors import CheckpointError, DeviceOutOfMemory, EngineError
from resnet_gui.engine.evaluate import evaluate_model
from resnet_gui.engine.events import (
    CheckpointSaved,
    EpochDone,
    EvalDone,
    EvalStarted,
    ImageSkipped,
    RunFailed,
    RunFinished,
    RunStarted,
    StepDone,
)
from resnet_gui.engine.model import checkpoint as ckpt
from resnet_gui.engine.model.build import backbone_and_head_params, build_model, set_train_mode
from resnet_gui.engine.plan import EpochThreads, device_plan
from resnet_gui.engine.runs import RunRecorder

log = logging.getLogger(__name__)

EventSink = Callable[[object], None]

STEP_EVENTS_PER_S = 4.0


def train(
    config: TrainConfig, on_event: EventSink | None = None, stop: threading.Event | None = None
) -> TrainResult:
    """Run a training job, reporting events; honours `stop` within one batch. Raises EngineError on bad input."""
    emit = RunRecorder(asdict(config), on_event)  # keeps <run folder>/run.json, passes events on
    stop = stop or threading.Event()
    try:
        return _Run(config, emit, stop).run()
    except torch.OutOfMemoryError:
        # Leave the except block first: its traceback holds the model, optimizer and batch alive.
        msg = out_of_memory_message(config)
    except Exception as exc:
        msg = str(exc) if isinstance(exc, EngineError) else f"{type(exc).__name__}: {exc}"
        emit(RunFailed(msg))
        raise
    release_device_memory()
    emit(RunFailed(msg))
    raise DeviceOutOfMemory(msg)


def out_of_memory_message(config: TrainConfig) -> str:
    """What to do after the device ran out of memory: a smaller batch first."""
    smaller = max(1, config.batch_size // 2)
    hint = f"try batch size {smaller}" if config.batch_size > 1 else "try a smaller image size or model"
    return (
        f"the device ran out of memory with batch size {config.batch_size}: {hint} "
        "(checkpoints saved so far are kept)"
    )


def release_device_memory() -> None:
    """Free what a failed run left: Python cycles first, then the CUDA caching allocator's blocks."""
    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def lr_factor(step: int, total_steps: int, warmup_steps: int) -> float:
    """Linear warm-up then cosine decay to 1% of the peak."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * progress))


class _LrSchedule:
    """Picklable LambdaLR function, so the scheduler's state_dict round-trips."""

    def __init__(self, total_steps: int, warmup_steps: int):
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps

    def __call__(self, step: int) -> float:
        return lr_factor(step, self.total_steps, self.warmup_steps)


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    criterion: nn.Module,
    device: torch.device,
    *,
    freeze_backbone: bool,
    scaler: torch.amp.GradScaler | None,
    amp_dtype: torch.dtype | None,
    stop: threading.Event,
    on_step: Callable[[int, int, torch.Tensor, int], None],
    on_skipped: Callable[[list[tuple[str, str]]], None],
) -> dict:
    """One pass over `loader`. Returns loss, accuracy, images seen, compute seconds and whether it was stopped.

    Sums stay on the device and `on_step` gets the loss as a tensor: reading a value (`.item()`) waits for
    the GPU, so that happens only when a (throttled) progress event is actually sent, and at the end.
    """
    set_train_mode(model, freeze_backbone)
    channels_last = device.type == "cuda"
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    seen = 0
    t0 = time.perf_counter()
    steps = len(loader)
    stopped = False
    for step, (images, labels, skipped) in enumerate(loader, start=1):
        if skipped:
            on_skipped(skipped)
        if len(labels) > 0:
            images = images.to(device, non_blocking=True)
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            labels = labels.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                logits = model(images)
                loss = criterion(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            loss = loss.detach()
            total_loss += loss.float() * len(labels)
            correct += (logits.argmax(1) == labels).sum()
            seen += len(labels)
            on_step(step, steps, loss, seen)
        scheduler.step()
        if stop.is_set():
            stopped = True
            break
    total_loss, correct = total_loss.item(), correct.item()  # waits for the device: before the clock stops
    return {
        "loss": total_loss / seen if seen else float("nan"),
        "acc": correct / seen if seen else 0.0,
        "seen": seen,
        "seconds": time.perf_counter() - t0,
        "stopped": stopped,
    }


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    criterion: nn.Module,
    device: torch.device,
    *,
    amp_dtype: torch.dtype | None = None,
    stop: threading.Event | None = None,
    on_skipped: Callable[[list[tuple[str, str]]], None] | None = None,
) -> dict:
    """Loss and accuracy over `loader` in eval mode."""
    model.eval()
    total_loss = correct = seen = 0
    for images, labels, skipped in loader:
        if skipped and on_skipped:
            on_skipped(skipped)
        if len(labels) == 0:
            continue
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        if device.type == "cuda":
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(images)
        total_loss += criterion(logits.float(), labels).item() * len(labels)
        correct += (logits.argmax(1) == labels).sum().item()
        seen += len(labels)
        if stop is not None and stop.is_set():
            break
    return {
        "loss": total_loss / seen if seen else None,
        "acc": correct / seen if seen else None,
        "seen": seen,
    }


def default_workers(device: torch.device) -> int:
    """DataLoader workers: enough to overlap decoding with compute without starving torch's own threads."""
    cpus = os.cpu_count() or 1
    if device.type == "cuda":
        return max(0, min(8, cpus - 1))
    return max(0, min(4, cpus // 4))


def _seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _amp_dtype(device: torch.device, enabled: bool) -> torch.dtype | None:
    return device_plan(device, amp=enabled).amp_dtype


def _validate(config: TrainConfig) -> None:
    problems = config.problems()
    if problems:
        raise EngineError(problems[0])


class _Run:
    """State of one training run; `run()` is the whole job from top to bottom."""

    def __init__(self, config: TrainConfig, emit: EventSink, stop: threading.Event):
        self.config = config
        self.emit = emit
        self.stop = stop
        self.skipped: dict[str, str] = {}
        self.is_main_process = True  # only rank 0 writes checkpoints once distributed training lands

    # -- set-up -------------------------------------------------------------------------------------

    def _resume_source(self) -> tuple[Path, dict | None, ckpt.CheckpointMeta, dict]:
        """Weights, training state (if any) and metadata of the run to continue."""
        path = Path(self.config.resume)
        state_dict, meta = ckpt.load_checkpoint(path)
        state_file = ckpt.training_state_path(path)
        if not state_file.exists():
            last = path.with_name("last.safetensors")
            if last.exists() and ckpt.training_state_path(last).exists() and last != path:
                log.info("resuming from %s (the latest state of the run %s belongs to)", last, path)
                path, state_file = last, ckpt.training_state_path(last)
                state_dict, meta = ckpt.load_checkpoint(path)
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
            log.warning(
                "no training state beside %s: weights resume, optimizer and schedule start fresh", path
            )
        return path, state, meta, state_dict

    def _config_from_resume(self, meta: ckpt.CheckpointMeta) -> TrainConfig:
        """The resumed run keeps its architecture, image size and recipe; epochs/out/device may change."""
        saved = meta.config or {}
        keep = {
            k: saved[k]
            for k in (
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
            )
            if k in saved
        }
        keep["arch"] = meta.arch
        # "pretrained" stays for the LR recipe; the weights themselves come from the checkpoint
        keep["img_size"] = meta.img_size
        return replace(self.config, **keep)

    def _loaders(
        self, index: DatasetIndex, img_size: int, mean, std, device: torch.device, gen: torch.Generator
    ):
        cfg = self.config
        workers = cfg.workers if cfg.workers is not None else default_workers(device)
        cache = self.cache = plan_cache(index, img_size, enabled=cfg.cache_images)
        if cache is not None:
            workers = 0  # the cache lives in this process; augmenting cached pixels is cheap
        common = {
            "num_workers": workers,
            "pin_memory": device.type == "cuda",
            "collate_fn": collate_skipping,
            "persistent_workers": workers > 0,
        }
        if workers > 0:
            common["prefetch_factor"] = 4
            if cfg.mp_context:
                common["multiprocessing_context"] = cfg.mp_context
        if cache is not None:
            tf = train_transform_uint8(img_size, cfg.augment, mean, std)
            train_ds = CachedImageDataset(index.train, tf, cache.side, cache)
        else:
            train_ds = ImageDataset(index.train, build_train_transform(img_size, cfg.augment, mean, std))
        sampler = make_weighted_sampler(index.train, len(index.classes), cfg.seed) if cfg.balance else None
        train_loader = DataLoader(
            train_ds,
            batch_size=cfg.batch_size,
            shuffle=sampler is None,
            sampler=sampler,
            drop_last=len(index.train) > cfg.batch_size * 4,  # avoid a tiny last batch hurting BatchNorm
            generator=gen,
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
            val_loader = DataLoader(val_ds, batch_size=max(cfg.batch_size, 64), shuffle=False, **common)
        if device.type == "cpu":  # each epoch on the cores other work leaves free (engine/plan.py)
            train_loader = EpochThreads(train_loader)
        return train_loader, val_loader, workers

    def _note_skipped(self, items: list[tuple[str, str]]) -> None:
        for path, reason in items:
            if path not in self.skipped:
                self.skipped[path] = reason
                log.warning("skipped %s: %s", path, reason)
                self.emit(ImageSkipped(path, reason))

    def _run_dir(self, index: DatasetIndex) -> Path:
        cfg = self.config
        if cfg.resume:
            return Path(cfg.resume).resolve().parent
        name = cfg.run_name or f"{Path(index.root).name or 'data'}-{cfg.arch}-{datetime.now():%Y%m%d-%H%M%S}"
        run_dir = Path(cfg.out_dir) / name
        n = 1
        while run_dir.exists() and any(run_dir.iterdir()):
            n += 1
            run_dir = Path(cfg.out_dir) / f"{name}-{n}"
        return run_dir

    # -- the job ------------------------------------------------------------------------------------

    def run(self) -> TrainResult:
        t_start = time.perf_counter()
        _validate(self.config)
        resume_state = None
        prior_history: list[dict] = []
        best_val_acc: float | None = None
        start_epoch = 0
        resume_weights = None
        if self.config.resume:
            _, resume_state, meta, resume_weights = self._resume_source()
            self.config = self._config_from_resume(meta)
            prior_history = list(meta.history or [])
            best_val_acc = (meta.metrics or {}).get("best_val_acc")
            start_epoch = (
                int(resume_state["epoch"]) if resume_state else int((meta.metrics or {}).get("epoch", 0))
            )
        cfg = self.config
        if cfg.epochs <= start_epoch:
            raise EngineError(
                f"the checkpoint has already been trained for {start_epoch} epochs; ask for more than that "
                f"(e.g. --epochs {start_epoch + 5})"
            )

        device = resolve_device(cfg.device)
        gen = self.gen = _seed_everything(cfg.seed)
        index = self.index = scan_dataset(cfg.data_dir, val_split=cfg.val_split, seed=cfg.seed)
        if resume_weights is not None and meta.classes != index.classes:
            raise EngineError(
                f"the checkpoint was trained on classes {meta.classes} but {cfg.data_dir} has {index.classes}"
            )
        img_size = self.img_size = cfg.img_size or auto_img_size(index)
        mean, std = self.mean, self.std = list(IMAGENET_MEAN), list(IMAGENET_STD)

        from_scratch = cfg.pretrained in (None, "none")
        model = self.model = build_model(
            cfg.arch,
            len(index.classes),
            pretrained=None if from_scratch or resume_weights is not None else cfg.pretrained,
            freeze_backbone=cfg.freeze_backbone,
            zero_init_residual=cfg.zero_init_residual and from_scratch,
        )
        if resume_weights is not None:
            model.load_state_dict(resume_weights)
        model.to(device)
        if device.type == "cuda":
            model.to(memory_format=torch.channels_last)
            torch.backends.cudnn.benchmark = True

        train_loader, val_loader, workers = self._loaders(index, img_size, mean, std, device, gen)
        steps_per_epoch = len(train_loader)
        optimizer = self.optimizer = self._optimizer(model)
        total_steps = steps_per_epoch * cfg.epochs
        warmup = min(int(total_steps * cfg.warmup_frac), steps_per_epoch * 2)
        scheduler = self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, _LrSchedule(total_steps, warmup)
        )
        amp_dtype = _amp_dtype(device, cfg.amp)
        scaler = self.scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
        if resume_state:
            optimizer.load_state_dict(resume_state["optimizer"])
            scheduler.load_state_dict(resume_state["scheduler"])
            for fn in scheduler.lr_lambdas:  # a continued run may be longer: keep the new schedule length
                if isinstance(fn, _LrSchedule):
                    fn.total_steps, fn.warmup_steps = total_steps, warmup
            if scaler is not None and resume_state.get("scaler"):
                scaler.load_state_dict(resume_state["scaler"])
            if "torch_rng" in resume_state:
                torch.set_rng_state(resume_state["torch_rng"])
            if "loader_rng" in resume_state:
                gen.set_state(resume_state["loader_rng"])
        criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)

        run_dir = self._run_dir(index)
        if self.is_main_process:  # creates run_dir
            model_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
            fileio.check_writable(run_dir, need_bytes=5 * model_bytes)  # best + last + state + a temp copy
            fileio.clean_stale_temp_files(run_dir.parent, recursive=True)  # left by a killed run
        dev_name = device_name(device)
        self.emit(
            RunStarted(
                arch=cfg.arch,
                device=str(device),
                device_name=dev_name,
                classes=list(index.classes),
                num_train=len(index.train),
                num_val=len(index.val),
                epochs=cfg.epochs,
                start_epoch=start_epoch,
                steps_per_epoch=steps_per_epoch,
                img_size=img_size,
                out_dir=str(run_dir),
            )
        )
        log.info(
            "training %s on %s (%s), %d train / %d val images, %d px, %d workers",
            cfg.arch,
            dev_name,
            device,
            len(index.train),
            len(index.val),
            img_size,
            workers,
        )

        history = list(prior_history)
        best_path = run_dir / "best.safetensors"
        last_path = run_dir / "last.safetensors"
        have_best = best_path.exists() and resume_weights is not None
        train_seen = 0
        train_seconds = 0.0
        stopped = False
        last_train: dict = {}
        last_val: dict = {"loss": None, "acc": None}
        epoch = start_epoch
        run_t0 = time.perf_counter()
        epoch_times: list[float] = []

        for epoch in range(start_epoch + 1, cfg.epochs + 1):
            ep_t0 = time.perf_counter()
            last_emit = [0.0]

            def on_step(
                step: int, steps: int, loss: torch.Tensor, seen: int, _ep=epoch, _t0=ep_t0, _last=last_emit
            ):
                now = time.perf_counter()
                if step != steps and now - _last[0] < 1.0 / STEP_EVENTS_PER_S:
                    return
                loss_value = loss.item()  # waits for the device, so the rate below is honest on a GPU
                now = _last[0] = time.perf_counter()
                elapsed = now - _t0
                rate = seen / elapsed if elapsed > 0 else 0.0
                per_step = elapsed / step
                epoch_est = (sum(epoch_times) / len(epoch_times)) if epoch_times else per_step * steps
                eta = per_step * (steps - step) + epoch_est * (cfg.epochs - _ep)
                self.emit(
                    StepDone(
                        epoch=_ep,
                        epochs=cfg.epochs,
                        step=step,
                        steps=steps,
                        loss=loss_value,
                        lr=optimizer.param_groups[-1]["lr"],
                        img_per_s=rate,
                        elapsed_s=now - run_t0,
                        eta_s=eta,
                    )
                )

            stats = train_one_epoch(
                model,
                train_loader,
                optimizer,
                scheduler,
                criterion,
                device,
                freeze_backbone=cfg.freeze_backbone,
                scaler=scaler,
                amp_dtype=amp_dtype,
                stop=self.stop,
                on_step=on_step,
                on_skipped=self._note_skipped,
            )
            train_seen += stats["seen"]
            train_seconds += stats["seconds"]
            if stats["stopped"]:
                stopped = True
                if stats["seen"] and self.is_main_process:
                    # Keep what was learned: the partial epoch becomes `last` (epoch count = completed epochs),
                    # and `best` too when there is none yet.
                    self._save(last_path, epoch - 1, history, best_val_acc, last_val, last_train, "last")
                    if not best_path.exists():
                        fileio.atomic_write_bytes(best_path, last_path.read_bytes())
                        self.emit(CheckpointSaved(str(best_path), "best", epoch - 1, None))
                epoch -= 1
                break
            if stats["seen"] == 0:  # every training image failed to load: say so instead of "finishing"
                example = next(iter(self.skipped.items()), ("", "no images"))
                raise EngineError(
                    f"none of the {len(index.train)} training images could be read "
                    f"(e.g. {example[0]}: {example[1]})"
                )
            last_train = stats
            if val_loader is not None:
                last_val = evaluate(
                    model, val_loader, criterion, device, amp_dtype=amp_dtype, on_skipped=self._note_skipped
                )
            epoch_s = time.perf_counter() - ep_t0
            epoch_times.append(epoch_s)
            score = last_val["acc"] if last_val["acc"] is not None else -stats["loss"]
            is_best = best_val_acc is None or not have_best or score > best_val_acc
            if is_best:
                best_val_acc = score if last_val["acc"] is not None else None
            row = {
                "epoch": epoch,
                "train_loss": stats["loss"],
                "train_acc": stats["acc"],
                "val_loss": last_val["loss"],
                "val_acc": last_val["acc"],
                "lr": optimizer.param_groups[-1]["lr"],
                "epoch_s": epoch_s,
                "img_per_s": stats["seen"] / stats["seconds"] if stats["seconds"] else 0.0,
            }
            history.append(row)
            self.emit(
                EpochDone(
                    epoch=epoch,
                    epochs=cfg.epochs,
                    train_loss=stats["loss"],
                    train_acc=stats["acc"],
                    val_loss=last_val["loss"],
                    val_acc=last_val["acc"],
                    lr=row["lr"],
                    epoch_s=epoch_s,
                    img_per_s=row["img_per_s"],
                    is_best=is_best,
                    eta_s=(sum(epoch_times) / len(epoch_times)) * (cfg.epochs - epoch),
                )
            )
            if self.is_main_process:
                self._save(last_path, epoch, history, best_val_acc, last_val, stats, "last")
                if is_best:
                    self._write_model(best_path, epoch, history, best_val_acc, last_val, stats)
                    have_best = True
                    self.emit(CheckpointSaved(str(best_path), "best", epoch, last_val["acc"]))
            if self.stop.is_set():
                stopped = True
                break

        # A stopped run skips the final evaluation: Stop means now, and the curves already show val figures.
        evaluation = None
        if not stopped and val_loader is not None and best_path.exists() and self.is_main_process:
            evaluation = self._final_evaluation(best_path, device, amp_dtype, workers)

        result = TrainResult(
            checkpoint=str(best_path) if best_path.exists() else None,
            last_checkpoint=str(last_path) if last_path.exists() else None,
            arch=cfg.arch,
            classes=list(index.classes),
            epochs=epoch,
            best_val_acc=best_val_acc,
            val_acc=last_val["acc"],
            val_loss=last_val["loss"],
            train_loss=last_train.get("loss"),
            wall_s=time.perf_counter() - t_start,
            train_img_per_s=train_seen / train_seconds if train_seconds else 0.0,
            device=str(device),
            device_name=dev_name,
            img_size=img_size,
            stopped=stopped,
            skipped=[{"path": p, "reason": r} for p, r in self.skipped.items()],
            history=history,
            evaluation=evaluation,
        )
        self.emit(RunFinished(result))
        return result

    def _final_evaluation(self, best_path: Path, device, amp_dtype, workers: int) -> dict | None:
        """Evaluate the best model on the validation split, store the summary in its metadata (atomic
        rewrite) and emit EvalDone with the full result. None if stopped meanwhile or it could not run."""
        self.emit(EvalStarted(str(best_path), len(self.index.val)))
        try:
            state, meta = ckpt.load_checkpoint(best_path)
            self.model.load_state_dict(state)
            result = evaluate_model(
                self.model,
                self.index.val,
                list(self.index.classes),
                img_size=self.img_size,
                mean=self.mean,
                std=self.std,
                device=device,
                batch_size=max(self.config.batch_size, 64),
                workers=workers,
                mp_context=self.config.mp_context,
                amp_dtype=amp_dtype,
                stop=self.stop,
                checkpoint=str(best_path),
                data_dir=self.config.data_dir,
                split="val",
            )
            if result is None:
                return None
            meta.metrics["eval"] = result.summary()
            ckpt.save_checkpoint(best_path, state, meta)
        except EngineError as exc:  # the run itself succeeded: report, do not fail it
            log.warning("final evaluation skipped: %s", exc)
            return None
        self.emit(EvalDone(result))
        return result.summary()

    def _optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        """AdamW; no weight decay on norms and biases; a smaller LR for a pretrained backbone."""
        cfg = self.config
        pretrained = cfg.pretrained not in (None, "none")
        base_lr = cfg.lr or (LR_FINETUNE if pretrained else LR_SCRATCH)
        backbone, head = backbone_and_head_params(model)
        groups = []
        for params, lr in (
            (backbone, base_lr * (BACKBONE_LR_FACTOR if pretrained else 1.0)),
            (head, base_lr),
        ):
            params = [p for p in params if p.requires_grad]
            decay = [p for p in params if p.ndim > 1]
            no_decay = [p for p in params if p.ndim <= 1]
            if decay:
                groups.append({"params": decay, "lr": lr, "weight_decay": cfg.weight_decay})
            if no_decay:
                groups.append({"params": no_decay, "lr": lr, "weight_decay": 0.0})
        return torch.optim.AdamW(groups)

    def _meta(self, epoch, history, best_val_acc, val, train_stats) -> ckpt.CheckpointMeta:
        cfg_dict = asdict(self.config)
        cfg_dict["img_size"] = self.img_size
        return ckpt.CheckpointMeta(
            arch=self.config.arch,
            classes=list(self.index.classes),
            img_size=self.img_size,
            mean=list(self.mean),
            std=list(self.std),
            metrics={
                "epoch": epoch,
                "best_val_acc": best_val_acc,
                "val_acc": val.get("acc"),
                "val_loss": val.get("loss"),
                "train_loss": train_stats.get("loss"),
                "train_acc": train_stats.get("acc"),
            },
            config=cfg_dict,
            history=list(history),
            versions=ckpt.current_versions(),
            created=datetime.now().astimezone().isoformat(timespec="seconds"),
        )

    def _write_model(self, path, epoch, history, best_val_acc, val, stats) -> None:
        ckpt.save_checkpoint(path, self.model, self._meta(epoch, history, best_val_acc, val, stats))

    def _save(self, path, epoch, history, best_val_acc, val, stats, kind) -> None:
        """Model file and the resume state beside it (optimizer, schedule, epoch, RNG), written as a pair."""
        model = ckpt.checkpoint_writer(self.model, self._meta(epoch, history, best_val_acc, val, stats))
        state = ckpt.training_state_bytes(
            {
                "epoch": epoch,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler is not None else None,
                "torch_rng": torch.get_rng_state(),
                "loader_rng": self.gen.get_state(),
            }
        )
        try:
            fileio.atomic_write_many([(path, model), (ckpt.training_state_path(path), state)])
        except OSError as exc:
            raise CheckpointError(f"could not write {path}: {exc.strerror or exc}") from exc
        self.emit(CheckpointSaved(str(path), kind, epoch, val.get("acc")))
