"""The dataset check in the app: Check dataset… runs on a worker with progress and Cancel, lists the
findings, fixes them with Remove / Move to class / Keep and Undo / Redo, and the Dataset tab's counts follow
every change. Classify's feedback adds a copy of the image to the dataset, with a badge."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest
from PySide6.QtWidgets import QDialog, QPushButton

from resnet_gui.engine.data.demo import make_demo_dataset
from resnet_gui.engine.data.doctor.journal import JOURNAL_DIR
from resnet_gui.ui.classify.feedback import FeedbackBar, mark_trained
from resnet_gui.ui.dataset.view import DatasetView
from resnet_gui.ui.state import AppState
from tests.engine.test_evaluate import crafted  # noqa: F401  (a fixture)


@pytest.fixture
def data(tmp_path):
    d = make_demo_dataset(tmp_path / "d", per_class=16, size=40, seed=0)
    shutil.move(d / "circle/circle_0001.png", d / "square/circle_0001.png")  # a flipped label
    shutil.copy(d / "star/star_0000.png", d / "star/star_copy.png")  # an exact duplicate
    return d


@pytest.fixture
def view(qtbot, data):
    v = DatasetView(AppState())
    qtbot.addWidget(v)
    v.resize(1100, 700)
    v.show()
    with qtbot.waitSignal(v.dataset_loaded, timeout=30_000):
        v.open_folder(str(data))
    yield v
    if v.doctor_dialog is not None:
        v.doctor_dialog.close()
    v.shutdown()


def _finding(panel, title):
    for i in range(panel.tree.topLevelItemCount()):
        item = panel.tree.topLevelItem(i)
        if item.text(0) == title:
            return item
    raise AssertionError(title)


def _select_row(panel, row):
    panel.grid.selectionModel().clearSelection()
    panel.grid.selectionModel().select(
        panel.model.index(row), panel.grid.selectionModel().SelectionFlag.Select
    )


def test_check_then_fix_with_undo_redo_and_counts_follow(qtbot, view, data):
    view.check_button.click()
    panel = view.doctor_dialog.panel
    assert panel.is_running() and panel.progress.isVisible()  # on a worker: the call returned at once
    with qtbot.waitSignal(panel.check_finished, timeout=60_000) as blocker:
        pass
    report = blocker.args[0]
    assert not report.stopped
    assert view.total_label.text() == "65 images · 4 classes"
    assert _finding(panel, "Exact duplicates").text(1) == "2"
    issues = _finding(panel, "Suspected label errors")
    assert int(issues.text(1)) >= 1
    panel.tree.setCurrentItem(issues)
    assert panel.model.records[0]["path"] == str(data / "square/circle_0001.png")
    assert "square → circle" in panel.model.records[0]["caption"]

    # Accept suggestion: moved back into circle/, the finding and the Dataset tab follow
    _select_row(panel, 0)
    assert panel.suggested_button.isEnabled()
    with qtbot.waitSignal(view.dataset_loaded, timeout=30_000):
        panel.suggested_button.click()
    assert (data / "circle/circle_0001.png").is_file()
    assert str(data / "square/circle_0001.png") not in [r["path"] for r in panel.model.records]
    assert view.result.counts["all"]["circle"] == 16 and view.result.counts["all"]["square"] == 17 - 1

    # Remove one of the duplicates: into the trash, one image fewer everywhere
    panel.tree.setCurrentItem(_finding(panel, "Exact duplicates"))
    _select_row(panel, 1)
    removed = panel.selected_paths()[0]
    with qtbot.waitSignal(view.dataset_loaded, timeout=30_000):
        panel.remove_button.click()
    assert view.total_label.text() == "64 images · 4 classes"
    assert _finding(panel, "Exact duplicates").text(1) == "1"
    assert any((data / JOURNAL_DIR / "trash").rglob("*.png"))

    # Undo (Ctrl+Z's action) twice and Redo once: files and counts go back and forth
    assert panel.undo_button.isEnabled() and "remove 1 image" in panel.undo_button.toolTip()
    with qtbot.waitSignal(view.dataset_loaded, timeout=30_000):
        view.fixes.undo_action.trigger()
    assert view.total_label.text() == "65 images · 4 classes"
    assert shutil.os.path.isfile(removed)
    with qtbot.waitSignal(view.dataset_loaded, timeout=30_000):
        view.fixes.undo_action.trigger()
    assert (data / "square/circle_0001.png").is_file()
    assert not panel.undo_button.isEnabled() and panel.redo_button.isEnabled()
    with qtbot.waitSignal(view.dataset_loaded, timeout=30_000):
        view.fixes.redo_action.trigger()
    assert (data / "circle/circle_0001.png").is_file()

    # Retrain asks the window (through the app state) for a run
    with qtbot.waitSignal(view.state.retrain_requested, timeout=1000):
        panel.retrain_button.click()


def test_cancel_stops_the_check(qtbot, view):
    view.check_button.click()
    panel = view.doctor_dialog.panel
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=60_000)
    assert panel.check_button.isEnabled() and not panel.cancel_button.isVisible()


def test_dataset_grid_context_menu_offers_the_fixes(qtbot, view, data):
    m = view.model
    view.grid.selectionModel().select(m.index(0), view.grid.selectionModel().SelectionFlag.Select)
    menu = view.fixes.menu([m.data(m.index(0), m.PathRole)], view.result.index.classes, view)
    texts = [a.text() for a in menu.actions()]
    assert texts[0].startswith("Move 1 image to class") and texts[1].startswith("Remove 1 image")
    keep = menu.actions()[2]
    keep.trigger()
    assert view.fixes.undo_action.isEnabled() and "keep 1 image" in view.fixes.undo_action.text()


def test_classify_feedback_copies_into_the_dataset_with_a_badge(qtbot, view, data, tmp_path):
    photo = tmp_path / "photo.png"
    shutil.copy(data / "star/star_0003.png", photo)
    mark_trained(str(data))
    bar = FeedbackBar(view.state)
    qtbot.addWidget(bar)
    assert not bar.badge.isVisible()
    prediction = SimpleNamespace(topk=[("star", 0.9), ("circle", 0.1)], error=None)
    bar.show()
    bar.show_row(SimpleNamespace(path=str(photo), prediction=prediction))
    assert bar.correct_button.isEnabled()
    with qtbot.waitSignal(view.dataset_loaded, timeout=30_000):  # the Dataset tab rescans
        bar.correct()
    assert (data / "star/photo.png").read_bytes() == photo.read_bytes() and photo.is_file()
    bar.wrong("circle")  # the same picture, said to be a circle: a second copy under circle/
    assert (data / "circle/photo.png").is_file()
    assert bar.added_since_training() == 2 and bar.badge.isVisible()
    assert "2 images added" in bar.badge.text()
    mark_trained(str(data))
    bar.show_row(None)
    assert not bar.badge.isVisible()


def test_evaluation_gallery_fixes_follow_the_files(qtbot, crafted, tmp_path):  # noqa: F811
    from PySide6.QtCore import QItemSelectionModel

    from resnet_gui.engine.evaluate import evaluate_model
    from resnet_gui.ui.train.eval_results import EvalResultsPanel
    from tests.engine.test_evaluate import SPEC, ColourModel

    result = evaluate_model(ColourModel(), crafted, SPEC, data_dir=str(tmp_path))
    panel = EvalResultsPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_result(result)
    first = panel.model.record(0)
    old, true = first["path"], first["true"]
    to = next(c for c in result.classes if c != true)
    panel.gallery.selectionModel().select(panel.model.index(0), QItemSelectionModel.SelectionFlag.Select)
    texts = [a.text() for a in panel.fixes.menu([old], result.classes, panel).actions()]
    assert texts[0] == "Move 1 image to class"
    panel.fixes.relabel([old], to)
    new = str(tmp_path / to / old.rsplit("/", 1)[1])
    assert shutil.os.path.isfile(new) and not shutil.os.path.exists(old)
    assert new in panel.listed_paths()  # the record follows its file
    panel.fixes.undo_action.trigger()
    assert shutil.os.path.isfile(old) and old in panel.listed_paths()
    panel.shutdown()


def test_the_image_viewer_moves_its_image(qtbot, view, data):
    m = view.model
    view._open_image(m.index(0))
    dialog = next(w for w in view.findChildren(QDialog) if w.isVisible() and w is not view.doctor_dialog)
    path = dialog._path
    remove = next(b for b in dialog.findChildren(QPushButton) if b.text() == "Remove")
    with qtbot.waitSignal(view.dataset_loaded, timeout=30_000):
        remove.click()
    assert not shutil.os.path.exists(path)
    assert not [w for w in view.findChildren(QDialog) if w.isVisible()]  # the viewer closed itself
    assert view.total_label.text() == "64 images · 4 classes"


def test_retrain_switches_to_train_and_starts_a_run(window, monkeypatch):
    from resnet_gui.ui.main_window import TRAIN_TAB

    started = []
    monkeypatch.setattr(window.training_view, "start", lambda: started.append(True))
    window.state.request_retrain()
    assert window.tabs.currentIndex() == TRAIN_TAB and started == [True]
