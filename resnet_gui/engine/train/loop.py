"""Training: `train(config, on_event, stop) -> TrainResult`.

A loop a reader can follow top to bottom (after torchvision's references/classification/train.py):
`_train()` sets things up in order, then runs epochs of `train_one_epoch()` (train/epoch.py) and
`engine.evaluate.evaluate()` with their state passed in explicitly; a `CheckpointSaver` (train/saver.py)
keeps `last` and `best`. What a resumed run continues from is read once, up front (train/resume.py);
loaders come from train/loaders.py, the optimizer and schedule from train/optim.py, every device setting
from the device plan (engine/device.py). Progress goes out as events (engine/events.py); `stop` (a
threading.Event) is checked after every batch.

Under a launcher (several processes, DDP: engine/train/distributed.py) the same function runs on every
rank: `batch_size` is the global batch, each rank trains on its share of it and validates its shard of
the split, the figures are summed across ranks, and only rank 0 records events, run.json and checkpoints
and runs the final evaluation (the others wait for it).
"""

from __future__ import annotations

import gc
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from resnet_gui.engine import fileio
from resnet_gui.engine.config import IMAGENET_MEAN, IMAGENET_STD, TrainConfig, TrainResult
from resnet_gui.engine.data.scan import DatasetIndex, auto_img_size, check_trainable, scan_dataset
from resnet_gui.engine.device import DevicePlan, device_name, device_plan, plan_settings, resolve_device
from resnet_gui.engine.errors import DeviceOutOfMemory, EngineError
from resnet_gui.engine.evaluate import evaluate, evaluate_model
from resnet_gui.engine.events import (
    EpochDone,
    EvalDone,
    EvalStarted,
    ImageSkipped,
    RunFailed,
    RunFinished,
    RunStarted,
)
from resnet_gui.engine.infer.trust import trust_metadata
from resnet_gui.engine.model.build import build_model
from resnet_gui.engine.runs import RunRecorder
from resnet_gui.engine.train.distributed import DistContext, convert_sync_batchnorm, process_group
from resnet_gui.engine.train.epoch import StepEvents, train_one_epoch, training_criterion
from resnet_gui.engine.train.loaders import make_loaders, val_batch_size
from resnet_gui.engine.train.optim import build_optimizer, build_scheduler
from resnet_gui.engine.train.recipe import Recipe, check_recipe
from resnet_gui.engine.train.resume import ResumePoint, resume_point
from resnet_gui.engine.train.saver import CheckpointSaver, ModelCard, run_folder

log = logging.getLogger(__name__)

__all__ = ["out_of_memory_message", "train", "train_one_epoch", "training_criterion"]

EventSink = Callable[[object], None]


def _discard(_event: object) -> None:
    """The event sink of ranks > 0: rank 0 speaks for the run."""


def train(
    config: TrainConfig, on_event: EventSink | None = None, stop: threading.Event | None = None
) -> TrainResult:
    """Run a training job, reporting events; honours `stop` within one batch. Raises EngineError on bad input.
    Under a launcher (WORLD_SIZE > 1) this is one rank of a DDP run; `on_event` is only called on rank 0."""
    stop = stop or threading.Event()
    with process_group(config.device) as dist, fileio.lock_scope():  # the run folder's lock ends here
        # rank 0 keeps <run folder>/run.json and passes events on; the other ranks say nothing
        emit = RunRecorder(asdict(config), on_event) if dist.is_main else _discard
        try:
            return _train(config, emit, stop, dist)
        except torch.OutOfMemoryError:
            # Leave the except block first: its traceback holds the model, optimizer and batch alive.
            msg = out_of_memory_message(config)
        except Exception as exc:
            msg = str(exc) if isinstance(exc, EngineError) else f"{type(exc).__name__}: {exc}"
            emit(RunFailed(msg))
            raise
        except BaseException:  # a second Ctrl+C, SystemExit: run.json says "interrupted", not "running"
            if isinstance(emit, RunRecorder):
                emit.interrupted()
            raise
        release_device_memory()
        emit(RunFailed(msg))
        raise DeviceOutOfMemory(msg)


@dataclass
class _Progress:
    """What the epochs of a run add up to (the checkpoints and the result read it)."""

    emit: EventSink
    history: list[dict]
    epoch: int  # completed epochs
    stopped: bool = False
    train_seen: int = 0
    train_seconds: float = 0.0
    last_train: dict = field(default_factory=dict)
    last_val: dict = field(default_factory=lambda: {"loss": None, "acc": None})
    epoch_times: list[float] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # path -> reason, in the order first seen

    def note_skipped(self, items: list[tuple[str, str]]) -> None:
        """Images that could not be read: each reported (ImageSkipped) once."""
        for path, reason in items:
            if path not in self.skipped:
                self.skipped[path] = reason
                log.info("skipped %s: %s", path, reason)  # the ImageSkipped event is what callers show
                self.emit(ImageSkipped(path, reason))

    def mean_epoch_s(self) -> float:
        return sum(self.epoch_times) / len(self.epoch_times)


def _train(config: TrainConfig, emit: EventSink, stop: threading.Event, dist: DistContext) -> TrainResult:
    t_start = time.perf_counter()
    _validate(config, dist.world)
    start: ResumePoint | None = resume_point(config)
    cfg = start.config if start else config  # the config this run trains with, from here on
    done = start.start_epoch if start else 0
    if cfg.epochs <= done:
        raise EngineError(
            f"the checkpoint has already been trained for {done} epochs; ask for more than that "
            f"(e.g. --epochs {done + 5})"
        )
    device = dist.device or resolve_device(cfg.device)
    # several ranks on this machine: each plans with its share of the cores (workers, threads)
    shares = {"processes": dist.local_world} if dist.active else {}
    plan = device_plan(device, amp=cfg.amp, **shares)
    gen = _seed_everything(cfg.seed)
    index = scan_dataset(cfg.data_dir, val_split=cfg.val_split, seed=cfg.seed)
    check_trainable(index)  # e.g. train/ and val/ without a class in common
    if start and start.meta.classes != index.classes:
        raise EngineError(
            f"the checkpoint was trained on classes {start.meta.classes} but {cfg.data_dir} has {index.classes}"
        )
    img_size = cfg.img_size or auto_img_size(index)
    card = ModelCard(cfg, list(index.classes), img_size, IMAGENET_MEAN, IMAGENET_STD)
    check_recipe(cfg, len(index.val))

    with plan_settings(plan):  # cudnn.benchmark and the thread count are restored on the way out
        model = _build_model(cfg, len(index.classes), start, device, plan)
        if dist.active and cfg.sync_bn:
            model = convert_sync_batchnorm(model, device)
        net = dist.wrap(model)  # what trains: DDP around `model` (the same parameters), or `model`
        loaders = make_loaders(index, cfg, img_size, card.mean, card.std, plan, gen, dist)
        optimizer = build_optimizer(model, cfg)
        scheduler = build_scheduler(optimizer, len(loaders.train), cfg)
        scaler = torch.amp.GradScaler("cuda") if plan.grad_scaler else None
        if start:
            start.restore(optimizer, scheduler, scaler, gen)
        criterion = training_criterion(cfg)
        # BN momentum, EMA, progressive resizing, flip-TTA, early stopping, when to write `last` (recipe.py)
        recipe = Recipe(cfg, model, len(loaders.train) * cfg.epochs, img_size, start)
        saver = CheckpointSaver(
            dist.broadcast_object(run_folder(cfg, index.root)),  # rank 0's choice of folder
            card,
            model=recipe.saved_model,
            optimizer=optimizer,
            scheduler=scheduler,
            scaler=scaler,
            loader_rng=gen,
            emit=emit,
            best_val_acc=start.best_val_acc if start else None,
            resumed=start is not None,
            enabled=dist.is_main,
            extra_state=recipe.extra_state,
        )
        saver.prepare()  # fails early when the folder cannot hold the checkpoints
        dev_name = device_name(device)
        emit(
            RunStarted(
                arch=cfg.arch,
                device=str(device),
                device_name=dev_name,
                classes=list(index.classes),
                num_train=len(index.train),
                num_val=len(index.val),
                epochs=cfg.epochs,
                start_epoch=done,
                steps_per_epoch=len(loaders.train),
                img_size=img_size,
                out_dir=str(saver.run_dir),
                problems=list(index.problems),
            )
        )
        log.info(
            "training %s on %s (%s), %d train / %d val images, %d px, %d workers, %d process(es)",
            *(cfg.arch, dev_name, device, len(index.train), len(index.val), img_size, loaders.workers),
            dist.world,
        )

        progress = _Progress(emit, history=start.history if start else [], epoch=done)
        run_t0 = time.perf_counter()
        for epoch in range(done + 1, cfg.epochs + 1):
            ep_t0 = time.perf_counter()
            stats = train_one_epoch(
                net,
                loaders.train,
                optimizer,
                scheduler,
                criterion,
                device,
                plan,
                freeze_backbone=cfg.freeze_backbone,
                scaler=scaler,
                stop=stop,
                on_step=StepEvents(
                    emit, epoch, cfg.epochs, optimizer, run_t0, ep_t0, progress.epoch_times, dist.world
                ),
                on_skipped=progress.note_skipped,
                dist=dist,
                resize=recipe.train_size(epoch),
                after_step=recipe.after_step(),
            )
            _gather_skipped(progress, dist)
            progress.train_seen += stats["seen"]
            progress.train_seconds += stats["seconds"]
            if stats["stopped"]:
                progress.stopped = True
                recipe.stopped_by_user()
                if stats["seen"] or recipe.unsaved:  # keep what was learned; epoch = the completed ones
                    saver.save_stopped(
                        progress.epoch, progress.history, val=progress.last_val, train=progress.last_train
                    )
                break
            if stats["seen"] == 0:  # every training image failed to load: say so instead of "finishing"
                example = next(iter(progress.skipped.items()), ("", "no images"))
                raise EngineError(
                    f"none of the {len(index.train)} training images could be read "
                    f"(e.g. {example[0]}: {example[1]})"
                )
            if loaders.val is not None:
                dist.sync_buffers(recipe.saved_model)  # every rank evaluates the model rank 0 saves
                val = _global_pass(
                    evaluate(recipe.eval_model(), loaders.val, index.classes, device, plan), dist
                )
                progress.note_skipped(val.skipped)
                progress.last_val = {"loss": val.loss, "acc": val.accuracy}
            progress.last_train = stats
            epoch_s = time.perf_counter() - ep_t0
            progress.epoch_times.append(epoch_s)
            is_best = saver.is_best(progress.last_val["acc"], stats["loss"])
            recipe.note_epoch(epoch, is_best)
            row = _history_row(epoch, stats, progress.last_val, optimizer, epoch_s)
            progress.history.append(row)
            progress.epoch = epoch
            emit(
                EpochDone(
                    **row,
                    epochs=cfg.epochs,
                    is_best=is_best,
                    eta_s=progress.mean_epoch_s() * (cfg.epochs - epoch),
                )
            )
            early = recipe.should_stop(progress.history)  # early stopping: the run ends, completed
            user_stop = dist.any(stop.is_set())
            saver.save(
                epoch,
                progress.history,
                val=progress.last_val,
                train=stats,
                best=is_best,
                write_last=recipe.write_last(epoch, final=early or user_stop),
            )
            if user_stop:
                progress.stopped = True
                recipe.stopped_by_user()
                break
            if early:
                log.info("%s", recipe.detail)
                break

        # A stopped run skips the final evaluation: Stop means now, and the curves already show val figures.
        evaluation = None
        if not progress.stopped and loaders.val is not None and dist.is_main and saver.best_path.exists():
            evaluation = _final_evaluation(model, saver, index, device, loaders.workers, emit, stop)
        dist.barrier()  # the other ranks wait for rank 0's final evaluation and files
        saver.finish(progress.stopped)  # a finished run keeps no resume state (engine/train/saver.py)

    result = TrainResult(
        checkpoint=str(saver.best_path) if saver.best_path.exists() else None,
        last_checkpoint=str(saver.last_path) if saver.last_path.exists() else None,
        arch=cfg.arch,
        classes=list(index.classes),
        epochs=progress.epoch,
        best_val_acc=saver.best_val_acc,
        val_acc=progress.last_val["acc"],
        val_loss=progress.last_val["loss"],
        train_loss=progress.last_train.get("loss"),
        wall_s=time.perf_counter() - t_start,
        train_img_per_s=progress.train_seen / progress.train_seconds if progress.train_seconds else 0.0,
        device=str(device),
        device_name=dev_name,
        img_size=img_size,
        stopped=progress.stopped,
        skipped=[{"path": p, "reason": r} for p, r in progress.skipped.items()],
        history=progress.history,
        evaluation=evaluation,
        processes=dist.world,
        problems=list(index.problems),
        stop_reason=recipe.reason,
        best_epoch=recipe.best_epoch if saver.best_path.exists() else None,
        stop_detail=recipe.detail,
    )
    emit(RunFinished(result))
    return result


def _history_row(
    epoch: int, stats: dict, val: dict, optimizer: torch.optim.Optimizer, epoch_s: float
) -> dict:
    return {
        "epoch": epoch,
        "train_loss": stats["loss"],
        "train_acc": stats["acc"],
        "val_loss": val["loss"],
        "val_acc": val["acc"],
        "lr": optimizer.param_groups[-1]["lr"],
        "epoch_s": epoch_s,
        "img_per_s": stats["seen"] / stats["seconds"] if stats["seconds"] else 0.0,
    }


def _build_model(
    cfg: TrainConfig, num_classes: int, start: ResumePoint | None, device: torch.device, plan: DevicePlan
) -> nn.Module:
    """The model to train, on `device` in the plan's memory layout: pretrained, fresh or resumed weights."""
    from_scratch = cfg.pretrained in (None, "none")
    model = build_model(
        cfg.arch,
        num_classes,
        pretrained=None if from_scratch or start else cfg.pretrained,
        freeze_backbone=cfg.freeze_backbone,
        zero_init_residual=cfg.zero_init_residual and from_scratch,
    )
    if start:
        model.load_state_dict(start.weights)
    model.to(device)
    if plan.channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def _final_evaluation(
    model: nn.Module,
    saver: CheckpointSaver,
    index: DatasetIndex,
    device: torch.device,
    workers: int,
    emit: EventSink,
    stop: threading.Event,
) -> dict | None:
    """Evaluate the best model on the validation split (what `resnet-gui eval` computes), store the summary
    in its metadata (atomic rewrite) and emit EvalDone with the full result. None if stopped meanwhile or
    it could not run."""
    emit(EvalStarted(str(saver.best_path), len(index.val)))
    card = saver.card
    try:
        weights, meta = saver.load_best()
        model.load_state_dict(weights)
        result = evaluate_model(
            model,
            index.val,
            card,
            device=device,
            batch_size=val_batch_size(card.config),
            workers=workers,
            mp_context=card.config.mp_context,
            amp=card.config.amp,
            stop=stop,
            checkpoint=str(saver.best_path),
            data_dir=card.config.data_dir,
            split="val",
        )
        if result is None:
            return None
        meta.trust = trust_metadata(
            model, index.val, card, device=device, workers=workers, stop=stop, result=result
        )
        saver.store_evaluation(weights, meta, result.summary())
    except EngineError as exc:  # the run itself succeeded: report, do not fail it
        log.warning("final evaluation skipped: %s", exc)
        return None
    emit(EvalDone(result))
    return result.summary()


def _validate(config: TrainConfig, world: int) -> None:
    if problems := config.problems():
        raise EngineError(problems[0])
    if config.batch_size < world:
        raise EngineError(
            f"batch size {config.batch_size} is the global batch, split over {world} processes: "
            f"it must be at least {world} (e.g. --batch-size {32 * world})"
        )


def _gather_skipped(progress: _Progress, dist: DistContext) -> None:
    """Rank 0 reports the images every rank could not read (each rank reads its own share)."""
    if dist.active:
        for items in dist.gather_objects(list(progress.skipped.items())):
            progress.note_skipped(items)


def _global_pass(val, dist: DistContext):
    """A validation pass over this rank's shard -> the figures of the whole split (summed across ranks).
    The per-image records stay this rank's; skipped images are gathered."""
    if not dist.active:
        return val
    loss_sum = torch.tensor((val.loss or 0.0) * val.seen, dtype=torch.float64)
    seen = torch.tensor(float(val.seen), dtype=torch.float64)
    loss_sum, seen, confusion = (
        t.cpu() for t in dist.all_sum(*(t.to(dist.device) for t in (loss_sum, seen, val.confusion)))
    )
    n = int(seen.item())
    val.seen, val.confusion = n, confusion
    val.loss = loss_sum.item() / n if n else None
    val.accuracy = confusion.diag().sum().item() / n if n else None
    val.skipped = [item for part in dist.gather_objects(val.skipped) for item in part]
    return val


def _seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


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
