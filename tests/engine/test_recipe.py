"""The recipe's parts (issue 17) do what they say: early stopping, EMA of the weights, progressive resizing,
flip-TTA, the schedule's shapes and writing `last` every k epochs. Correctness, not speed."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from resnet_gui.engine import events as ev
from resnet_gui.engine.config import TrainConfig
from resnet_gui.engine.data.demo import make_demo_dataset
from resnet_gui.engine.errors import EngineError
from resnet_gui.engine.model.checkpoint import load_checkpoint, load_training_state, training_state_path
from resnet_gui.engine.train import epoch as epoch_mod
from resnet_gui.engine.train import loop
from resnet_gui.engine.train.ema import RAW_MODEL_KEY, ModelEma, ema_decay
from resnet_gui.engine.train.optim import lr_factor
from resnet_gui.engine.train.recipe import Recipe
from resnet_gui.engine.train.resume import resume_point
from resnet_gui.engine.train.schedule import progressive_size, resize_batch
from resnet_gui.engine.train.stopping import EarlyStopping
from resnet_gui.engine.train.tta import FlipTTA
from tests._fixtures import TINY, stop_on


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory) -> Path:
    """8 images per class at 32 px: 2 steps of 16 per epoch, 8 validation images."""
    return make_demo_dataset(tmp_path_factory.mktemp("recipe") / "shapes", per_class=10, size=32, seed=3)


def _config(data: Path, out: Path, **kw) -> TrainConfig:
    return TrainConfig(data_dir=str(data), out_dir=str(out), **{**TINY, **kw})


# --- early stopping -------------------------------------------------------------------------------------
def _rows(accs: list[float]) -> list[dict]:
    return [{"epoch": i + 1, "val_acc": a, "val_loss": 1.0 - a} for i, a in enumerate(accs)]


def test_early_stopping_counts_epochs_since_the_best():
    es = EarlyStopping(patience=2)
    assert not es.should_stop(_rows([0.5, 0.6]))
    assert not es.should_stop(_rows([0.5, 0.6, 0.6]))  # a tie is no improvement: 1 epoch without
    assert es.should_stop(_rows([0.5, 0.6, 0.6, 0.55]))
    assert es.best_epoch(_rows([0.5, 0.6, 0.6, 0.55])) == 2
    assert not es.should_stop(_rows([0.5, 0.6, 0.6, 0.7]))  # improved again
    loss = EarlyStopping(patience=1, monitor="val_loss")  # lower is better
    assert loss.best_epoch(_rows([0.5, 0.7, 0.6])) == 2 and loss.should_stop(_rows([0.5, 0.7, 0.6]))
    assert not EarlyStopping(patience=None).should_stop(_rows([0.9, 0.1, 0.1, 0.1]))


def test_train_stops_early_keeps_the_best_and_says_why(small_dir, tmp_path, monkeypatch):
    """Scripted validation accuracies 0.5, 0.75, 0.75, 0.625, (0.9): patience 2 ends the run after epoch 4,
    before the better epoch 5; the best checkpoint is epoch 2's; --json and run.json say why."""
    script = iter([0.5, 0.75, 0.75, 0.625, 0.9, 0.9])
    real = loop.evaluate

    def scripted(*args, **kwargs):
        result = real(*args, **kwargs)
        result.accuracy = next(script)
        return result

    monkeypatch.setattr(loop, "evaluate", scripted)
    events: list = []
    cfg = _config(small_dir, tmp_path, epochs=6, patience=2, lr=1e-4)
    result = loop.train(cfg, on_event=events.append)
    assert result.stop_reason == "early_stopping" and not result.stopped
    assert result.epochs == 4 and [r["epoch"] for r in result.history] == [1, 2, 3, 4]
    assert result.best_epoch == 2 and result.best_val_acc == pytest.approx(0.75)
    assert "no better validation accuracy for 2 epochs (best at epoch 2)" in result.stop_detail
    _, meta = load_checkpoint(result.checkpoint)
    assert meta.metrics["epoch"] == 2  # the kept model is the best epoch's, not the last one's
    assert result.to_json()["stop_reason"] == "early_stopping"
    record = json.loads((Path(result.checkpoint).parent / "run.json").read_text())
    assert record["status"] == "finished" and record["final"]["stop_reason"] == "early_stopping"
    assert any(isinstance(e, ev.EvalDone) for e in events)  # a completed run: the final evaluation ran


def test_a_full_run_says_completed(small_dir, tmp_path):
    result = loop.train(_config(small_dir, tmp_path, epochs=1, patience=3))
    assert result.stop_reason == "completed" and result.best_epoch == 1 and result.stop_detail == ""


def test_patience_without_validation_images_is_refused(small_dir, tmp_path):
    with pytest.raises(EngineError, match="validation"):
        loop.train(_config(small_dir, tmp_path, epochs=2, patience=2, val_split=0.0))


def test_bad_recipe_values_are_problems():
    cfg = TrainConfig(data_dir="d")
    assert replace(cfg, patience=0).problems() and replace(cfg, monitor="acc").problems()
    assert replace(cfg, schedule="step").problems() and replace(cfg, last_every=0).problems()
    assert not replace(cfg, patience=3, monitor="val_loss", schedule="linear").problems()


# --- EMA --------------------------------------------------------------------------------------------------
def _tiny_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(2))


def test_ema_follows_the_weights_by_its_decay():
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    ema = ModelEma(net, total_steps=100)  # half-life 5 steps
    assert ema.decay == pytest.approx(ema_decay(100)) and ema.decay == pytest.approx(0.5 ** (1 / 5))
    start = {k: v.clone() for k, v in ema.module.state_dict().items()}
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
        net[1].running_mean.add_(2.0)
        net[1].num_batches_tracked.add_(7)
    ema.update()
    d = min(ema.decay, 2 / 11)  # the first update is capped by (1 + n) / (10 + n)
    after = ema.module.state_dict()
    for key in ("0.weight", "0.bias", "1.weight"):
        assert torch.allclose(after[key], start[key] + (1 - d) * 1.0)
    assert torch.allclose(after["1.running_mean"], start["1.running_mean"] + (1 - d) * 2.0)
    assert int(after["1.num_batches_tracked"]) == 7  # integers are copied
    assert not any(p.requires_grad for p in ema.module.parameters())
    for _ in range(200):  # the average converges to weights that stay put
        ema.update()
    assert torch.allclose(ema.module[0].weight, net[0].weight, atol=1e-4)


def test_ema_run_saves_the_average_and_resumes_both(small_dir, tmp_path):
    """With ema on, the checkpoint files hold the EMA weights, last.state.pt the raw ones; a resumed run
    continues the raw model from the state and the EMA from the file. (Stopped after epoch 1: a finished
    run drops its state, train/saver.py finish.)"""
    cfg = _config(small_dir, tmp_path, epochs=2, ema=True, run_name="ema")
    stop, _events, on_event = stop_on(ev.EpochDone)
    result = loop.train(cfg, on_event, stop=stop)
    assert result.stopped and len(result.history) == 1
    saved, _ = load_checkpoint(result.last_checkpoint)
    state = load_training_state(training_state_path(Path(result.last_checkpoint)))
    raw = state[RAW_MODEL_KEY]
    assert state["ema_updates"] == 2  # 32 training images at batch 16: one update per step
    changed = [k for k in raw if raw[k].is_floating_point() and not torch.equal(raw[k], saved[k])]
    assert changed, "the saved model should be the average, not the raw weights"
    point = resume_point(replace(cfg, epochs=2, resume=result.last_checkpoint))
    model = loop._build_model(point.config, 4, point, torch.device("cpu"), _cpu_plan())
    recipe = Recipe(point.config, model, total_steps=4, img_size=32, start=point)
    for k, v in model.state_dict().items():
        assert torch.equal(v, raw[k])
    for k, v in recipe.saved_model.state_dict().items():
        assert torch.equal(v, saved[k])
    assert recipe.ema.updates == 2
    resumed = loop.train(replace(cfg, epochs=2, resume=result.last_checkpoint))
    assert resumed.epochs == 2 and not resumed.stopped


def _cpu_plan():
    from resnet_gui.engine.device import device_plan

    return device_plan(torch.device("cpu"), amp=False)


# --- progressive resizing, last every k epochs -------------------------------------------------------------
def test_progressive_sizes_grow_to_full_size():
    assert [progressive_size(e, 8, 64) for e in range(1, 9)] == [32, 40, 48, 48, 56, 64, 64, 64]
    assert [progressive_size(e, 4, 32) for e in range(1, 5)] == [16, 24, 32, 32]
    assert progressive_size(1, 1, 64) == 64  # a one-epoch run trains at the full size
    assert resize_batch(torch.zeros(2, 3, 32, 32), 16).shape == (2, 3, 16, 16)


def test_progressive_run_trains_small_then_full_and_writes_last_every_k(small_dir, tmp_path, monkeypatch):
    """4 epochs at 32 px: the batches the model trains on are 16, 24, then 32 px (validation at 32), and
    with last_every=3 `last` is written after epochs 3 and 4 (the end) only."""
    sides: list[tuple[int, int]] = []
    real = epoch_mod.resize_batch

    def spy(images, side):
        out = real(images, side)
        sides.append((side, out.shape[-1]))
        return out

    monkeypatch.setattr(epoch_mod, "resize_batch", spy)
    events: list = []
    result = loop.train(
        _config(small_dir, tmp_path, epochs=4, progressive_resize=True, last_every=3), on_event=events.append
    )
    steps = events[0].steps_per_epoch
    assert sides == [(16, 16)] * steps + [(24, 24)] * steps  # epochs 3 and 4: not resized (full size)
    lasts = [e.epoch for e in events if isinstance(e, ev.CheckpointSaved) and e.kind == "last"]
    assert lasts == [3, 4]
    bests = [e.epoch for e in events if isinstance(e, ev.CheckpointSaved) and e.kind == "best"]
    assert bests and Path(result.checkpoint).exists()
    _, meta = load_checkpoint(result.checkpoint)
    assert meta.img_size == 32 and meta.metrics["epoch"] == result.best_epoch


def test_default_last_writes_are_spaced_by_the_interval_and_always_at_the_end():
    """last_every=None: `last` after an epoch only once LAST_INTERVAL_S (30 s) have passed since the previous
    write (the run's start counts as one); the last epoch, Stop and early stopping always write; an explicit
    last_every=K writes every K epochs whatever the clock says."""
    now = [0.0]
    cfg = TrainConfig(data_dir="x", epochs=8)
    recipe = Recipe(cfg, nn.Linear(2, 2), total_steps=8, img_size=32, clock=lambda: now[0])
    written = []
    for epoch, t in zip(range(1, 9), (10, 20, 31, 40, 55, 62, 70, 75), strict=True):
        now[0] = t
        if recipe.write_last(epoch, final=False):
            written.append(epoch)
    assert written == [3, 6, 8]  # 31 s after the start, 31 s after that, and the end
    now[0] = 80.0
    assert recipe.write_last(2, final=True)  # Stop / early stopping: now
    every = Recipe(replace(cfg, last_every=2), nn.Linear(2, 2), 8, 32, clock=lambda: 0.0)
    assert [e for e in range(1, 9) if every.write_last(e, final=False)] == [2, 4, 6, 8]


def test_short_epochs_write_last_only_at_the_end_or_on_stop(small_dir, tmp_path, monkeypatch):
    """A run whose epochs are shorter than the interval writes `last` once, at its end; pressing Stop
    after epoch 1 writes it then (with its resume state), so nothing trained is lost."""
    from resnet_gui.engine import config as config_module

    monkeypatch.setattr(config_module, "LAST_INTERVAL_S", 1e9)
    events: list = []
    loop.train(_config(small_dir, tmp_path / "a", epochs=3), on_event=events.append)
    assert [e.epoch for e in events if isinstance(e, ev.CheckpointSaved) and e.kind == "last"] == [3]
    stop, seen, on_event = stop_on(ev.EpochDone)
    result = loop.train(_config(small_dir, tmp_path / "b", epochs=3), on_event=on_event, stop=stop)
    assert [e.epoch for e in seen if isinstance(e, ev.CheckpointSaved) and e.kind == "last"] == [1]
    assert training_state_path(Path(result.last_checkpoint)).exists()  # resumable from epoch 1
    # Stop pressed after epoch 1's `last` was skipped, before epoch 2 trained a batch: `last` is written
    # then, as epoch 1 (what a Stop after an epoch always kept)
    stop, seen, on_event = stop_on(ev.CheckpointSaved)  # epoch 1's `best`: after the loop's stop check
    result = loop.train(_config(small_dir, tmp_path / "c", epochs=3), on_event=on_event, stop=stop)
    assert result.stopped and result.last_checkpoint is not None
    assert [e.epoch for e in seen if isinstance(e, ev.CheckpointSaved) and e.kind == "last"] == [1]
    _, meta = load_checkpoint(result.last_checkpoint)
    assert meta.metrics["epoch"] == 1 and training_state_path(Path(result.last_checkpoint)).exists()


def test_batchnorm_statistics_keep_up_on_small_data_sets(small_dir, tmp_path, monkeypatch):
    """Fewer than ~28 steps per epoch: the momentum leaves at most 5% of the running statistics from before
    an epoch (0.9 ** 6 = 53% with PyTorch's 0.1); long epochs keep 0.1. A run sets it on every BatchNorm."""
    from resnet_gui.engine.train.recipe import TORCH_BN_MOMENTUM, bn_momentum, set_bn_momentum

    for steps in (1, 2, 6, 12):
        m = bn_momentum(steps, 0.05)
        assert (1 - m) ** steps == pytest.approx(0.05) and m > TORCH_BN_MOMENTUM
    assert bn_momentum(100, 0.05) == TORCH_BN_MOMENTUM == bn_momentum(6, None)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4))
    assert set_bn_momentum(net, 6) == pytest.approx(bn_momentum(6, 0.05))
    assert {m.momentum for m in net.modules() if isinstance(m, nn.BatchNorm2d)} == {bn_momentum(6, 0.05)}
    # in a run: 2 steps per epoch here; the model that trains gets the momentum for them
    from resnet_gui.engine.train import recipe as recipe_mod

    seen: list[float] = []
    loop_model = {}
    real = recipe_mod.set_bn_momentum

    def spy(model, steps):
        loop_model["m"] = model
        seen.append(steps)
        return real(model, steps)

    monkeypatch.setattr(recipe_mod, "set_bn_momentum", spy)
    loop.train(_config(small_dir, tmp_path, epochs=1))
    bns = [m for m in loop_model["m"].modules() if isinstance(m, nn.BatchNorm2d)]
    assert seen == [2] and bns and all(m.momentum == pytest.approx(bn_momentum(2, 0.05)) for m in bns)


# --- flip-TTA, schedule shapes ------------------------------------------------------------------------------
def test_flip_tta_averages_an_image_and_its_mirror():
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 2 * 2, 2))
    x = torch.randn(3, 3, 2, 2)
    expected = (net(x) + net(torch.flip(x, dims=[-1]))) / 2
    assert torch.allclose(FlipTTA(net)(x), expected)
    symmetric = torch.ones(1, 3, 2, 2)
    assert torch.allclose(FlipTTA(net)(symmetric), net(symmetric))


def test_schedule_shapes():
    total, warm = 100, 10
    assert lr_factor(5, total, warm, "linear") == lr_factor(5, total, warm, "cosine")  # same warm-up
    assert lr_factor(55, total, warm, "linear") == pytest.approx(0.01 + 0.99 * 0.5)
    assert lr_factor(99, total, warm, "constant") == 1.0
    assert lr_factor(100, total, warm, "linear") == pytest.approx(0.01)


def test_fine_grained_set_has_12_imbalanced_classes(tmp_path):
    from resnet_gui.engine.data.demo import fine_grained_classes, make_fine_grained_dataset

    root = make_fine_grained_dataset(tmp_path / "a", per_class=16, size=16, seed=1)
    counts = {c: len(list((root / c).iterdir())) for c in fine_grained_classes()}
    assert len(counts) == 12 and counts["circle-0dot"] == 16 and min(counts.values()) == 4
    again = make_fine_grained_dataset(tmp_path / "b", per_class=16, size=16, seed=1)
    name = "star-2dot/star-2dot_0001.png"
    assert (root / name).read_bytes() == (again / name).read_bytes()  # deterministic per seed
