"""Training panel: Start runs the engine on a QThread, curves fill, Stop and closing end the run cleanly."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from resnet_gui.engine import events as ev
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


def test_start_trains_draws_both_plots_and_finishes(qtbot, window, view):
    fill_train_form(view, epochs=2)
    with qtbot.waitSignal(view.run_finished, timeout=120_000) as done:
        events = _start(qtbot, view)
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
    with qtbot.waitSignal(view.run_finished, timeout=60_000) as done:
        qtbot.mouseClick(view.stop_button, Qt.MouseButton.LeftButton)
        assert not view.stop_button.isEnabled()  # pressed once is enough
    result = done.args[0]
    assert result.stopped
    assert result.epochs < 50
    assert Path(result.checkpoint).is_file()
    assert view.progress.format() == "Stopped"
    assert "Stopped early" in view.result_box.details.text()


def test_closing_the_window_mid_training_stops_and_joins_the_thread(qtbot, window, view):
    fill_train_form(view, epochs=50)
    events = _start(qtbot, view)
    _wait_for_first_step(qtbot, events)
    worker = view._worker
    t0 = time.monotonic()
    window.close()
    assert time.monotonic() - t0 < 20  # stopped within a batch, not after 50 epochs
    assert worker._thread.isFinished()
    assert not view.is_running()


def test_bad_learning_rate_is_reported_not_started(qtbot, window, view):
    view.form.lr.setText("1e")  # the validator lets intermediate text through
    qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    assert not view.is_running()
    assert "Learning rate" in view.message.text()
