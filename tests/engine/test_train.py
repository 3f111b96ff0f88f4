"""Training end to end on tiny demo data: learns, stops, resumes, skips bad files, keeps checkpoints."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from resnet_gui.engine import events as ev
from resnet_gui.engine.config import TrainConfig
from resnet_gui.engine.data.demo import make_demo_dataset
from resnet_gui.engine.errors import EngineError
from resnet_gui.engine.evaluate import evaluate_checkpoint
from resnet_gui.engine.model.checkpoint import load_checkpoint, load_training_state, training_state_path
from resnet_gui.engine.train.loop import train
from resnet_gui.engine.train.optim import lr_factor
from tests._fixtures import TINY, steady_threads


@pytest.fixture(scope="module")
def learn_dir(tmp_path_factory) -> Path:
    return make_demo_dataset(
        tmp_path_factory.mktemp("learn") / "shapes", per_class=100, size=32, seed=1, with_val=True
    )


@pytest.fixture(scope="module")
def learned(learn_dir, tmp_path_factory):
    """2 epochs on `learn_dir`: (TrainResult, events)."""
    events: list = []
    out = tmp_path_factory.mktemp("learned")
    result = train(
        TrainConfig(data_dir=str(learn_dir), epochs=2, out_dir=str(out), **TINY), on_event=events.append
    )
    return result, events


def test_two_epochs_beat_chance(learned):
    result, events = learned
    assert not result.stopped and result.epochs == 2
    # 4 balanced classes: chance is 25%. Validation uses the given val/ folder (25 images per class).
    assert result.best_val_acc is not None and result.best_val_acc > 0.40, result.history
    assert len(result.history) == 2 and result.history[1]["train_loss"] < result.history[0]["train_loss"]
    kinds = [type(e) for e in events]
    assert kinds[0] is ev.RunStarted and kinds[-1] is ev.RunFinished
    assert sum(k is ev.EpochDone for k in kinds) == 2
    assert any(k is ev.StepDone for k in kinds)
    started = events[0]
    assert started.num_val == 100 and started.num_train == 400 and started.img_size == 32
    # best and last exist, best carries the metadata a user needs
    state, meta = load_checkpoint(result.checkpoint)
    assert meta.classes == ["circle", "square", "star", "triangle"] and meta.arch == "resnet18"
    assert meta.metrics["best_val_acc"] == pytest.approx(result.best_val_acc)
    assert len(meta.history) == 2 and meta.img_size == 32
    assert Path(result.last_checkpoint).exists()


def test_stop_is_honoured_within_one_batch(demo_dir, tmp_path):
    stop = threading.Event()
    steps: list[int] = []

    def on_event(e):
        if isinstance(e, ev.RunStarted):
            stop.set()  # before the first batch: the loop must end right after it
        if isinstance(e, ev.StepDone):
            steps.append(e.step)

    cfg = TrainConfig(data_dir=str(demo_dir), epochs=3, out_dir=str(tmp_path), **{**TINY, "batch_size": 4})
    result = train(cfg, on_event=on_event, stop=stop)
    assert result.stopped
    assert steps == [1]
    assert result.epochs == 0 and result.history == []
    # what was learned is kept: a loadable checkpoint exists even though no epoch completed
    assert result.checkpoint and Path(result.checkpoint).exists()
    load_checkpoint(result.checkpoint)


@pytest.fixture
def same_threads():
    """Compared runs on one thread each, whatever the machine's load (one thread never stalls on a busy
    machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with steady_threads():
        yield
    torch.set_num_threads(before)


def test_resume_continues_exactly_where_it_stopped(demo_dir, tmp_path, same_threads):
    """Stop after epoch 1 of 2, resume: the second epoch matches an uninterrupted run."""
    cfg = TrainConfig(data_dir=str(demo_dir), epochs=2, **TINY)
    straight = train(cfg.__class__(**{**cfg.__dict__, "out_dir": str(tmp_path / "a")}))

    stop = threading.Event()

    def stop_after_first_epoch(e):
        if isinstance(e, ev.EpochDone) and e.epoch == 1:
            stop.set()

    first = train(
        cfg.__class__(**{**cfg.__dict__, "out_dir": str(tmp_path / "b")}),
        on_event=stop_after_first_epoch,
        stop=stop,
    )
    assert first.stopped and first.epochs == 1
    state = load_training_state(training_state_path(first.last_checkpoint))
    assert state["epoch"] == 1 and "optimizer" in state and "scheduler" in state

    events: list = []
    resumed = train(
        cfg.__class__(**{**cfg.__dict__, "resume": first.last_checkpoint}), on_event=events.append
    )
    assert events[0].start_epoch == 1
    assert resumed.epochs == 2 and [h["epoch"] for h in resumed.history] == [1, 2]
    assert resumed.history[1]["lr"] == pytest.approx(straight.history[1]["lr"])
    assert resumed.history[1]["train_loss"] == pytest.approx(straight.history[1]["train_loss"], rel=1e-4)
    a, _ = load_checkpoint(straight.last_checkpoint)
    b, _ = load_checkpoint(resumed.last_checkpoint)
    assert torch.allclose(a["fc.weight"], b["fc.weight"], atol=1e-5)


def test_resume_needs_more_epochs(trained, demo_dir):
    result, _ = trained
    with pytest.raises(EngineError, match="already been trained for 1 epochs"):
        train(TrainConfig(data_dir=str(demo_dir), epochs=1, resume=result.last_checkpoint, **TINY))


def test_bad_files_are_skipped_and_reported(demo_dir, tmp_path):
    data = tmp_path / "data"
    for cls in ("circle", "square"):
        (data / cls).mkdir(parents=True)
        for src in sorted((demo_dir / cls).glob("*.png"))[:6]:
            (data / cls / src.name).write_bytes(src.read_bytes())
    (data / "circle" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    good = (data / "square" / "square_0000.png").read_bytes()
    (data / "square" / "truncated.png").write_bytes(good[: len(good) // 2])
    events: list = []
    result = train(
        TrainConfig(data_dir=str(data), epochs=1, val_split=0.0, out_dir=str(tmp_path / "o"), **TINY),
        on_event=events.append,
    )
    skipped = {Path(s["path"]).name: s["reason"] for s in result.skipped}
    assert set(skipped) == {"broken.png", "truncated.png"}
    assert all(skipped.values())
    assert {Path(e.path).name for e in events if isinstance(e, ev.ImageSkipped)} == set(skipped)
    assert result.checkpoint and not result.stopped


def test_bad_config_fails_with_clear_message(demo_dir):
    failed: list = []
    with pytest.raises(EngineError, match="unknown architecture"):
        train(TrainConfig(data_dir=str(demo_dir), arch="resnet19"), on_event=failed.append)
    assert isinstance(failed[-1], ev.RunFailed) and "resnet19" in failed[-1].error


def test_lr_schedule_warms_up_then_decays():
    values = [lr_factor(s, 100, 10) for s in range(100)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(values[10:], values[11:], strict=False))
    assert values[-1] < 0.05


def test_balance_samples_an_imbalanced_dataset(demo_dir, tmp_path, monkeypatch):
    """--balance: the loader draws the rare class about as often as the common one."""
    data = tmp_path / "data"
    for cls, n in (("circle", 12), ("square", 3)):
        (data / cls).mkdir(parents=True)
        for src in sorted((demo_dir / cls).glob("*.png"))[:n]:
            (data / cls / src.name).write_bytes(src.read_bytes())
    import resnet_gui.engine.train.loop as train_mod

    seen: list[int] = []
    real = train_mod.train_one_epoch

    def spy(model, loader, *args, **kwargs):
        for _, labels, _ in loader:
            seen.extend(labels.tolist())
        return real(model, loader, *args, **kwargs)

    monkeypatch.setattr(train_mod, "train_one_epoch", spy)
    cfg = TrainConfig(
        data_dir=str(data), epochs=4, val_split=0.0, balance=True, out_dir=str(tmp_path / "o"), **TINY
    )
    train(cfg)
    rare = seen.count(1) / len(seen)
    assert 0.3 < rare < 0.7, rare  # without balancing it would be 3/15 = 0.2


def test_worker_processes_via_forkserver(demo_dir, tmp_path):
    """What the app uses: DataLoader workers started by forkserver (never forked from Qt threads).
    Bad files found inside a worker process still reach the result."""
    data = tmp_path / "data"
    for cls in ("circle", "square"):
        (data / cls).mkdir(parents=True)
        for src in sorted((demo_dir / cls).glob("*.png"))[:4]:
            (data / cls / src.name).write_bytes(src.read_bytes())
    (data / "square" / "bad.png").write_bytes(b"not a png")
    cfg = TrainConfig(
        data_dir=str(data),
        epochs=1,
        val_split=0.0,
        out_dir=str(tmp_path / "o"),
        **{**TINY, "workers": 1},
        mp_context="forkserver",
    )
    result = train(cfg)
    assert [Path(s["path"]).name for s in result.skipped] == ["bad.png"]
    assert result.epochs == 1 and result.checkpoint


def test_val_loss_of_the_best_epoch_is_what_eval_reports(learned, learn_dir):
    """One evaluation loop, one loss: the curve's val loss for the best epoch equals `resnet-gui eval`'s
    loss for that checkpoint on the same val split (plain cross-entropy; label smoothing only trains).
    The model has learned (val acc > 40%), so a label-smoothed val loss would be ~0.06 off."""
    result, _ = learned
    assert (
        TrainConfig(data_dir="").label_smoothing > 0
    )  # the training objective differs from the reported loss
    _, meta = load_checkpoint(result.checkpoint)
    best = next(h for h in result.history if h["epoch"] == meta.metrics["epoch"])
    reported = evaluate_checkpoint(result.checkpoint, learn_dir, device="cpu", workers=0)
    assert reported.split == "val" and reported.num_images == 4 * 25
    assert abs(best["val_loss"] - reported.loss) <= 1e-4, (best["val_loss"], reported.loss)
    assert best["val_acc"] == pytest.approx(reported.accuracy)
    assert meta.metrics["eval"]["loss"] == pytest.approx(reported.loss, abs=1e-4)


def test_a_prediction_and_a_run_leave_threads_and_cudnn_benchmark_as_they_found_them(
    checkpoint, demo_dir, tmp_path, monkeypatch
):
    """No engine call leaves process-wide settings changed: the app predicts and trains in one process."""
    import resnet_gui.engine.train.loop as train_mod
    from resnet_gui.engine import device as dev
    from resnet_gui.engine.infer.predict import Predictor

    real_plan = train_mod.device_plan
    # the GPU's cudnn.benchmark switch on any machine, and a machine so busy that every epoch wants 1 thread
    monkeypatch.setattr(
        train_mod, "device_plan", lambda d, amp: replace(real_plan(d, amp), cudnn_benchmark=True)
    )
    monkeypatch.setattr(dev, "current_load", lambda: 1000.0)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        p = Predictor(checkpoint, device="cpu", warmup=False)
        monkeypatch.setattr(p._cpu, "others", lambda: 1000.0)  # every core busy elsewhere: 1 thread
        assert p.predict_one(sorted(demo_dir.rglob("*.png"))[0]).error is None
        assert torch.get_num_threads() == 2 and torch.backends.cudnn.benchmark is False

        during: list[tuple[int, bool]] = []

        def on_event(e):
            if isinstance(e, ev.StepDone):
                during.append((torch.get_num_threads(), torch.backends.cudnn.benchmark))

        cfg = TrainConfig(data_dir=str(demo_dir), epochs=1, out_dir=str(tmp_path), **TINY)
        train(cfg, on_event=on_event)
        assert during and all(d == (1, True) for d in during)  # the run did change them...
        assert torch.get_num_threads() == 2 and torch.backends.cudnn.benchmark is False  # ...and restored
    finally:
        torch.set_num_threads(before)
