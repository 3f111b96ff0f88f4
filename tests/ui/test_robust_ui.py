"""Issue 6 in the app: closing mid-run asks and then stops and joins; double Start, drops and checkpoint loads
during a run are handled; an unsafe checkpoint leaves the loaded model as it was; skipped files land in the
problems list; out of memory is an error in the window and the app stays usable."""

from __future__ import annotations

import shutil
import time

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from resnet_gui.engine import events as ev
from resnet_gui.engine.train import loop as train_module
from resnet_gui.ui import jobs
from resnet_gui.ui.main_window import CLASSIFY_TAB, TRAIN_TAB
from tests.ui.helpers import drop_paths, fill_train_form, open_dataset


@pytest.fixture
def view(window, tiny_dataset, qtbot):
    open_dataset(qtbot, window, tiny_dataset)
    window.tabs.setCurrentIndex(TRAIN_TAB)
    return window.training_view


def _start(qtbot, view, epochs: int = 50) -> list:
    fill_train_form(view, epochs=epochs)
    events: list = []
    view.engine_event.connect(events.append)
    qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    assert view.is_running()
    qtbot.waitUntil(lambda: any(isinstance(e, ev.StepDone) for e in events), timeout=60_000)
    return events


def _stop(qtbot, view) -> None:
    if view.is_running():
        with qtbot.waitSignal(view.run_finished, timeout=60_000):
            view.stop()


def test_closing_mid_training_asks_first(qtbot, window, view, monkeypatch):
    asked: list[str] = []
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]

    def question(parent, title, text, *args):
        asked.append(text)
        return answers[len(asked) - 1]

    monkeypatch.setattr(QMessageBox, "question", question)
    window.confirm_close_mid_run = True
    _start(qtbot, view)
    worker = view.runner.worker
    window.close()  # "No": the window stays and training goes on
    assert asked and "Stop training and quit?" in asked[0]
    assert window.isVisible() and view.is_running()
    t0 = time.monotonic()
    window.close()  # "Yes": stopped within a batch and the thread joined
    assert len(asked) == 2 and not window.isVisible()
    assert time.monotonic() - t0 < 20
    assert worker._thread.isFinished() and not view.is_running()


def test_closing_when_idle_does_not_ask(qtbot, window, view, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", lambda *a: pytest.fail("asked although nothing runs"))
    window.confirm_close_mid_run = True
    window.close()
    assert not window.isVisible()


def test_double_clicking_start_starts_one_run(qtbot, window, view):
    fill_train_form(view, epochs=1)
    events: list = []
    view.engine_event.connect(events.append)
    with qtbot.waitSignal(view.run_finished, timeout=120_000):
        qtbot.mouseDClick(view.start_button, Qt.MouseButton.LeftButton)
        qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
        view.start()  # a programmatic second start is ignored too
        assert not view.start_button.isEnabled()
    assert sum(isinstance(e, ev.RunStarted) for e in events) == 1
    assert sum(isinstance(e, ev.RunFinished) for e in events) == 1
    assert view.start_button.isEnabled()


def test_drops_and_checkpoint_loads_during_a_run(qtbot, window, view, tiny_dataset, checkpoint, tmp_path):
    other = tmp_path / "other"
    for cls in ("cats", "dogs"):
        shutil.copytree(tiny_dataset / "circle", other / cls)
    events = _start(qtbot, view)
    training_on = view.dataset_label.text()
    # a folder dropped mid-run: the Dataset tab shows it, the running Train tab keeps its data
    with qtbot.waitSignal(window.dataset_view.dataset_loaded, timeout=30_000):
        drop_paths(window, [other])
    assert view.is_running() and view.dataset_label.text() == training_on
    # a checkpoint dropped mid-run loads in Classify; images dropped mid-run are classified
    with qtbot.waitSignal(window.inference_view.checkpoint_loaded, timeout=60_000):
        drop_paths(window, [checkpoint])
    with qtbot.waitSignal(window.inference_view.predictions_done, timeout=60_000):
        drop_paths(window, sorted((tiny_dataset / "star").glob("*.png"))[:2])
    assert window.tabs.currentIndex() == CLASSIFY_TAB
    assert window.inference_view.results.rowCount() == 2
    assert view.is_running()
    _stop(qtbot, view)
    assert any(isinstance(e, ev.RunFinished) for e in events)
    assert "other" in view.dataset_label.text()  # the dropped folder reached the Train tab after the run


def test_unsafe_checkpoint_is_refused_and_the_loaded_model_stays(
    qtbot, window, checkpoint, tiny_dataset, tmp_path
):
    view = window.inference_view
    with qtbot.waitSignal(view.checkpoint_loaded, timeout=60_000):
        view.load_checkpoint(str(checkpoint))
    before = view.predictor
    marker = tmp_path / "code-ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    for name in ("evil.pt", "evil.pth"):
        evil = tmp_path / name
        torch.save({"model_state_dict": {"fc.weight": torch.zeros(2, 2)}, "x": Evil()}, evil)
        with qtbot.waitSignal(view.error, timeout=60_000):
            drop_paths(window, [evil])
        assert f"Cannot load {name}" in view.message.text() and "refused" in view.message.text()
        assert view.predictor is before and view.checkpoint == str(checkpoint)
    assert not marker.exists()
    with qtbot.waitSignal(view.predictions_done, timeout=60_000):  # the old model still answers
        view.classify([str(tiny_dataset / "star" / "star_0000.png")])
    assert view.results.rows[0].prediction.error is None


def test_files_skipped_in_training_join_the_problems_list(qtbot, window, tiny_dataset, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    broken = [data / "circle" / "circle_0001.png", data / "star" / "star_0002.png"]
    for p in broken:
        p.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    open_dataset(qtbot, window, data)
    view = window.training_view
    fill_train_form(view, epochs=1)
    with qtbot.waitSignal(view.run_finished, timeout=120_000) as done:
        view.start()
    assert {s["path"] for s in done.args[0].skipped} == {str(p) for p in broken}
    problems = [
        window.dataset_view.problems.item(i).text() for i in range(window.dataset_view.problems.count())
    ]
    for p in broken:
        assert sum(str(p) in text for text in problems) == 1  # listed once, with its reason
    assert "skipped" in view.log.toPlainText()


def test_out_of_memory_is_an_error_in_the_window_and_the_app_stays_usable(qtbot, window, view, monkeypatch):
    real_build = train_module.build_model

    def build_model(*args, **kwargs):
        model = real_build(*args, **kwargs)

        def forward(x):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 4.00 GiB")

        model.forward = forward
        return model

    monkeypatch.setattr(train_module, "build_model", build_model)
    monkeypatch.setattr(jobs, "RUN_IN_CHILD", False)  # the fault is injected into this process's engine
    fill_train_form(view, epochs=1, batch_size=8)
    with qtbot.waitSignal(view.run_finished, timeout=60_000) as done:
        view.start()
    assert done.args[0] is None
    assert "out of memory with batch size 8: try batch size 4" in view.message.text()
    assert not view.is_running() and view.start_button.isEnabled()
    monkeypatch.undo()
    with qtbot.waitSignal(view.run_finished, timeout=120_000) as done:  # and the next run works
        view.start()
        assert view.runner.process is not None  # in a child again
    assert done.args[0] is not None and done.args[0].epochs == 1
