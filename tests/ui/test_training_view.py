"""Training panel: Start trains in a child process (one started ahead) followed by a QThread, curves
fill, Stop and Force stop reach the child, closing ends the run and the spare cleanly, a killed child
is a failed run in a window that lives on, with its best checkpoint offered."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from resnet_gui.engine import events as ev
from resnet_gui.engine.model.checkpoint import load_checkpoint
from resnet_gui.ui.main_window import CLASSIFY_TAB, TRAIN_TAB
from tests.ui.helpers import fill_train_form, open_dataset


@pytest.fixture
def view(window, tiny_dataset, qtbot):
    """The Train tab, shown, on the tiny dataset."""
    open_dataset(qtbot, window, tiny_dataset)
    window.tabs.setCurrentIndex(TRAIN_TAB)
    return window.training_view


def _start(qtbot, view) -> list:
    events: list = []
    view.engine_event.connect(events.append)
    qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    assert view.is_running()
    return events


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def _spare(qtbot, view):
    """The spare child, once its (threaded) launch is done."""
    qtbot.waitUntil(lambda: view.runner.spare.spare is not None and view.runner.spare.spare.is_running())
    return view.runner.spare.spare


def test_start_trains_draws_both_plots_and_finishes(qtbot, window, view):
    fill_train_form(view, epochs=2)
    spare = _spare(qtbot, view)  # the Train tab showed: a child was started ahead
    with qtbot.waitSignal(view.run_finished, timeout=120_000) as done:
        events = _start(qtbot, view)
        assert view.runner.process is spare  # the run trains in it, not in this process
        assert spare.pid != os.getpid() and spare.is_running()
        # controls are locked while the run is going
        assert not view.form.isEnabled()
        assert not view.start_button.isEnabled()
        assert view.stop_button.isEnabled()
        assert window.tabs.tabText(1) == "Train ●"
    result = done.args[0]
    assert result is not None and not result.stopped
    assert Path(result.checkpoint).is_file()

    steps = [e for e in events if isinstance(e, ev.StepDone)]
    epochs = [e for e in events if isinstance(e, ev.EpochDone)]
    assert steps and len(epochs) == 2
    assert view.progress.value() == 1000
    counts = view.plots.point_counts()
    assert counts["step"] == len(steps) and counts["smoothed"] == len(steps)
    assert counts["train_loss"] == counts["val_loss"] == 2
    assert counts["train_acc"] == counts["val_acc"] == 2
    log = view.log.toPlainText()
    assert "Epoch   1/2" in log and "Epoch   2/2" in log
    assert view.result_box.isVisible()
    assert "Best validation accuracy" in view.result_box.title.text()
    assert result.checkpoint in view.result_box.details.text()
    # unlocked again
    assert view.form.isEnabled() and view.start_button.isEnabled() and not view.stop_button.isEnabled()
    assert view.result_box.use_button.isEnabled() and view.result_box.continue_button.isEnabled()
    assert window.status_label.text() == "Ready"
    after = _spare(qtbot, view)  # the next run's child was started once this one had begun
    assert after is not spare


def test_a_spare_that_died_is_replaced_and_closing_ends_every_child(qtbot, window, view):
    fill_train_form(view, epochs=1)
    dead = _spare(qtbot, view)
    os.kill(dead.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: not dead.is_running(), timeout=10_000)
    with qtbot.waitSignal(view.run_finished, timeout=120_000) as done:
        _start(qtbot, view)
        assert view.runner.process is not None and view.runner.process is not dead  # a fresh child
    assert done.args[0] is not None and done.args[0].epochs == 1
    spare = _spare(qtbot, view)
    window.close()
    assert not _alive(spare.pid)  # the spare is killed and reaped with the window


def test_continue_training_and_use_in_classify(qtbot, window, view):
    fill_train_form(view, epochs=1)
    with qtbot.waitSignal(view.run_finished, timeout=120_000):
        _start(qtbot, view)
    first = view.result
    assert first.epochs == 1

    view.result_box.more_epochs.setValue(1)
    with qtbot.waitSignal(view.run_finished, timeout=120_000) as done:
        qtbot.mouseClick(view.result_box.continue_button, Qt.MouseButton.LeftButton)
    second = done.args[0]
    assert second.epochs == 2 and not second.stopped
    assert Path(second.checkpoint).parent == Path(first.checkpoint).parent
    assert view.plots.point_counts()["train_loss"] == 2  # the curves carry on

    with qtbot.waitSignal(window.inference_view.checkpoint_loaded, timeout=60_000) as loaded:
        qtbot.mouseClick(view.result_box.use_button, Qt.MouseButton.LeftButton)
    assert loaded.args[0] == second.checkpoint
    assert window.tabs.currentIndex() == CLASSIFY_TAB


def _wait_for_first_step(qtbot, events) -> None:
    qtbot.waitUntil(lambda: any(isinstance(e, ev.StepDone) for e in events), timeout=120_000)


def test_stop_mid_run_ends_it_and_keeps_a_checkpoint(qtbot, window, view):
    fill_train_form(view, epochs=50)
    events = _start(qtbot, view)
    _wait_for_first_step(qtbot, events)
    child = view.runner.process
    with qtbot.waitSignal(view.run_finished, timeout=60_000) as done:
        qtbot.mouseClick(view.stop_button, Qt.MouseButton.LeftButton)
        assert view.stop_button.text() == "Force stop"  # pressed once is enough; twice kills
        assert view.stop_button.shortcut().toString() == "Ctrl+."
    result = done.args[0]
    assert result.stopped  # the child honoured Stop and returned its result
    assert result.epochs < 50
    assert Path(result.checkpoint).is_file()
    assert child.result == result and child.error is None
    assert view.progress.format() == "Stopped"
    if result.history:  # stopped after an epoch: the best checkpoint is offered
        assert f"Stopped after {len(result.history)} epochs" in view.result_box.details.text()
        assert view.result_box.use_button.isEnabled()
    else:  # stopped within epoch 1: nothing usable, and nothing offered that needs a model
        assert view.result_box.title.text().startswith("Stopped before the first epoch finished")
        assert view.result_box.use_button.isHidden()
    assert view.stop_button.text() == "Stop" and not view.stop_button.isEnabled()
    assert view.stop_button.shortcut().toString() == "Ctrl+."


def _wait_for_best(qtbot, events) -> str:
    def best():
        return next((e.path for e in events if isinstance(e, ev.CheckpointSaved) and e.kind == "best"), None)

    qtbot.waitUntil(lambda: best() is not None, timeout=120_000)
    return best()


def test_force_stop_kills_the_child_and_shows_a_stopped_run(qtbot, window, view):
    fill_train_form(view, epochs=50)
    events = _start(qtbot, view)
    best = _wait_for_best(qtbot, events)
    child = view.runner.process
    with qtbot.waitSignal(view.run_finished, timeout=60_000) as done:
        qtbot.mouseClick(view.stop_button, Qt.MouseButton.LeftButton)
        qtbot.mouseClick(view.stop_button, Qt.MouseButton.LeftButton)  # "Force stop"
    assert done.args[0] is None  # killed: no result, but not a failure either
    assert child.error is not None and child.error.on_request
    assert view.progress.format() == "Stopped" and not view.message.isVisible()
    assert "Force stop was pressed" in view.log.toPlainText()
    assert view.result_box.title.text() == "Stopped" and best in view.result_box.details.text()
    assert view.result_box.use_button.isEnabled()
    load_checkpoint(best)


def test_a_killed_child_fails_the_run_and_the_window_lives_on(qtbot, window, view):
    fill_train_form(view, epochs=50)
    events: list = []

    def kill_at_first_best(e):
        if isinstance(e, ev.CheckpointSaved) and e.kind == "best" and view.runner.process.is_running():
            os.kill(view.runner.process.pid, signal.SIGKILL)  # as the OOM killer or a segfault would end it

    view.engine_event.connect(kill_at_first_best)
    with qtbot.waitSignal(view.run_finished, timeout=120_000) as done:
        events = _start(qtbot, view)
    view.engine_event.disconnect(kill_at_first_best)
    assert done.args[0] is None
    text = view.message.text()
    assert text.startswith("Training failed: training process died: killed by signal 9 (SIGKILL)")
    assert "Training failed: training process died: killed by signal 9" in view.log.toPlainText()
    assert view.progress.format() == "Failed"
    best = next(e.path for e in events if isinstance(e, ev.CheckpointSaved) and e.kind == "best")
    _, meta = load_checkpoint(best)  # the kill left the best checkpoint loadable
    assert meta.classes == next(e for e in events if isinstance(e, ev.RunStarted)).classes
    assert view.result_box.isVisible() and view.result_box.title.text() == "Training failed"
    assert best in view.result_box.details.text()
    assert view.result_box.use_button.isEnabled() and view.result_box.folder_button.isEnabled()
    assert not view.result_box.continue_button.isEnabled()
    assert view.start_button.isEnabled() and view.form.isEnabled()

    with qtbot.waitSignal(window.inference_view.checkpoint_loaded, timeout=60_000) as loaded:
        qtbot.mouseClick(view.result_box.use_button, Qt.MouseButton.LeftButton)
    assert loaded.args[0] == best
    window.tabs.setCurrentIndex(TRAIN_TAB)
    fill_train_form(view, epochs=1)
    with qtbot.waitSignal(view.run_finished, timeout=120_000) as again:  # the window is still usable
        _start(qtbot, view)
    assert again.args[0] is not None and again.args[0].epochs == 1
    assert not view.message.isVisible()


def test_closing_the_window_mid_training_stops_and_joins_the_thread(qtbot, window, view):
    fill_train_form(view, epochs=50)
    events = _start(qtbot, view)
    _wait_for_first_step(qtbot, events)
    worker, child, spare = view.runner.worker, view.runner.process, _spare(qtbot, view)
    t0 = time.monotonic()
    window.close()
    assert time.monotonic() - t0 < 20  # stopped within a batch, not after 50 epochs
    assert worker._thread.isFinished()
    assert not view.is_running()
    assert child.result is not None and child.result.stopped  # it was asked to stop, not killed
    assert not _alive(child.pid) and not _alive(spare.pid)


def test_bad_learning_rate_is_reported_not_started(qtbot, window, view):
    view.form.lr.setText("1e")  # the validator lets intermediate text through
    qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    assert not view.is_running()
    assert "Learning rate" in view.message.text()


def test_use_all_gpus_is_offered_only_with_two_or_more(qtbot, tmp_path):
    """The probe's CUDA count decides: none or one GPU, no option and one process; four, 'Use all 4 GPUs'
    and four processes unless the run is on the CPU or the box is cleared."""
    from resnet_gui.ui.jobs import GPU_COUNT_KEY
    from resnet_gui.ui.state import AppState
    from resnet_gui.ui.train.form import TrainForm

    form = TrainForm(AppState())
    qtbot.addWidget(form)
    form.set_devices({"auto": "CPU", "cpu": "CPU", "cuda": None, "mps": None, GPU_COUNT_KEY: "1"})
    assert form.all_gpus.isHidden() and form.processes() == 1
    names = {"auto": "NVIDIA H200", "cpu": "CPU", "cuda": "NVIDIA H200", "mps": None, GPU_COUNT_KEY: "4"}
    form.set_devices(names)
    form.all_gpus.setChecked(True)
    assert not form.all_gpus.isHidden() and form.all_gpus.text() == "Use all 4 GPUs"
    assert form.processes() == 4
    form.device.setCurrentIndex(form.device.findData("cpu"))
    assert form.processes() == 1
    form.device.setCurrentIndex(form.device.findData("cuda"))
    form.all_gpus.setChecked(False)
    assert form.processes() == 1


def test_train_until_it_stops_improving_sets_patience(qtbot):
    """The form's early-stopping option is TrainConfig.patience (PATIENCE_DEFAULT epochs), off when cleared."""
    from resnet_gui.engine.config import PATIENCE_DEFAULT
    from resnet_gui.ui.state import AppState
    from resnet_gui.ui.train.form import TrainForm

    form = TrainForm(AppState())
    qtbot.addWidget(form)
    form.until_plateau.setChecked(True)
    assert form.build_config("d", "o", None).patience == PATIENCE_DEFAULT
    form.until_plateau.setChecked(False)
    assert form.build_config("d", "o", None).patience is None
