"""Evaluation panel: a confusion-cell click filters the gallery; sorting, copy, CSV, Open in Classify;
the Train tab shows the end-of-run evaluation and overlays a previous run's curves."""

from __future__ import annotations

import csv
import json

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QGuiApplication

from resnet_gui.engine import events as ev
from resnet_gui.engine.evaluate import evaluate_model
from resnet_gui.engine.runs import RUN_FILE, RunRecorder
from resnet_gui.ui.main_window import CLASSIFY_TAB, TRAIN_TAB
from resnet_gui.ui.train.eval_results import EvalResultsPanel
from tests.engine.test_evaluate import CLASSES, SPEC, ColourModel, crafted  # noqa: F401  (crafted: fixture)
from tests.ui.helpers import fill_train_form, open_dataset


@pytest.fixture
def result(crafted):  # noqa: F811
    r = evaluate_model(ColourModel(), crafted, SPEC)
    r.checkpoint = "/runs/x/best.safetensors"
    return r


@pytest.fixture
def panel(qtbot, result):
    p = EvalResultsPanel()
    qtbot.addWidget(p)
    p.resize(1000, 560)
    p.show()
    qtbot.waitExposed(p)
    p.set_result(result)
    yield p
    p.shutdown()


def _click_cell(qtbot, panel, true: int, pred: int) -> None:
    rect = panel.confusion.cell_rect(true, pred)
    qtbot.mouseClick(panel.confusion, Qt.MouseButton.LeftButton, pos=rect.center().toPoint())


def _cell_paths(result, true: int, pred: int) -> set[str]:
    return {r["path"] for r in result.images if (r["true"], r["pred"]) == (CLASSES[true], CLASSES[pred])}


def test_clicking_a_confusion_cell_filters_the_gallery(qtbot, panel, result):
    # at first: every misclassified image, most confidently wrong first
    assert panel.listed_paths() == [m["path"] for m in result.misclassified]
    assert panel.count_label.text() == "3 images"

    _click_cell(qtbot, panel, 0, 1)  # true a, predicted b
    assert panel.cell == (0, 1) and panel.confusion.selected == (0, 1)
    assert set(panel.listed_paths()) == _cell_paths(result, 0, 1) and len(panel.listed_paths()) == 1
    assert "predicted <b>b</b>" in panel.cell_label.text() and panel.cell_clear.isVisible()

    _click_cell(qtbot, panel, 2, 2)  # the diagonal: c images classified right
    listed = panel.listed_paths()
    assert set(listed) == _cell_paths(result, 2, 2) and len(listed) == result.confusion_matrix[2][2] == 3
    probs = [r["prob"] for r in panel.model.listed()]
    assert probs == sorted(probs, reverse=True)

    panel.sort_combo.setCurrentIndex(panel.sort_combo.findData("loss"))  # hardest first
    losses = [r["loss"] for r in panel.model.listed()]
    assert losses == sorted(losses, reverse=True) and len(losses) == 3

    _click_cell(qtbot, panel, 2, 2)  # the same cell again: the filter goes
    assert panel.cell is None and set(panel.listed_paths()) == {m["path"] for m in result.misclassified}

    panel.show_combo.setCurrentIndex(panel.show_combo.findData("all"))
    assert len(panel.listed_paths()) == result.num_images


def test_clicking_a_class_in_the_per_class_table_filters_the_gallery(qtbot, panel, result):
    def click_class(name: str) -> None:
        row = next(r for r in range(panel.table.rowCount()) if panel.table.item(r, 0).text() == name)
        rect = panel.table.visualItemRect(panel.table.item(row, 1))
        qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())

    panel.table.sortByColumn(3, Qt.SortOrder.DescendingOrder)  # rows no longer in class order
    true_a = {r["path"] for r in result.images if r["true"] == "a"}
    wrong_a = {r["path"] for r in result.images if r["true"] == "a" and r["pred"] != "a"}
    assert wrong_a and wrong_a != true_a

    click_class("a")  # Show = misclassified: class a's errors only
    assert panel.cell == (0, None) and panel.confusion.selected is None
    assert set(panel.listed_paths()) == wrong_a and "true <b>a</b>" in panel.cell_label.text()
    panel.show_combo.setCurrentIndex(panel.show_combo.findData("all"))  # the class filter stays
    assert set(panel.listed_paths()) == true_a
    click_class("c")
    assert set(panel.listed_paths()) == {r["path"] for r in result.images if r["true"] == "c"}
    panel.cell_clear.click()
    assert panel.cell is None and len(panel.listed_paths()) == result.num_images


def test_gallery_thumbnails_load_off_the_gui_thread(qtbot, panel):
    panel.show_combo.setCurrentIndex(panel.show_combo.findData("all"))
    qtbot.waitUntil(lambda: panel.model.cached_count() > 0, timeout=10_000)


def test_copy_export_and_open_in_classify(qtbot, panel, result, tmp_path):
    listed = panel.listed_paths()
    panel.copy_paths()  # nothing selected: every listed file
    assert QGuiApplication.clipboard().text().splitlines() == listed

    sel = panel.gallery.selectionModel()
    sel.select(panel.model.index(1), QItemSelectionModel.SelectionFlag.Select)
    panel.copy_paths()
    assert QGuiApplication.clipboard().text() == listed[1]
    with qtbot.waitSignal(panel.open_in_classify) as opened:
        qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)
    assert opened.args == [[listed[1]], result.checkpoint]

    out = tmp_path / "errors.csv"
    panel.export_csv(str(out))
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["path"] for r in rows] == listed
    by_path = {m["path"]: m for m in result.misclassified}
    for r in rows:
        m = by_path[r["path"]]
        assert (r["true"], r["predicted"]) == (m["true"], m["pred"])
        assert float(r["confidence"]) == pytest.approx(m["prob"], abs=1e-6)
        assert float(r["loss"]) == pytest.approx(m["loss"], abs=1e-6)


def _fake_previous_run(runs_dir, epochs: int = 3) -> str:
    run_dir = runs_dir / "older-run"
    run_dir.mkdir(parents=True)
    rec = RunRecorder({"data_dir": "x", "epochs": epochs})
    rec(ev.RunStarted("resnet18", "cpu", "CPU", ["a", "b"], 8, 4, epochs, 0, 1, 32, str(run_dir)))
    for e in range(1, epochs + 1):
        rec(ev.EpochDone(e, epochs, 1.0 / e, 0.3 * e, 1.2 / e, 0.25 * e, 1e-3, 1.0, 10.0, True, 0.0))
    assert json.loads((run_dir / RUN_FILE).read_text())["history"][-1]["epoch"] == epochs
    return str(run_dir)


def test_train_view_overlays_a_previous_run(qtbot, window):
    view = window.training_view
    older = _fake_previous_run(view.runs_dir)
    view.compare.refresh()
    assert view.compare.combo.count() == 2 and "older-run" in view.compare.combo.itemText(1)
    view.compare.choose(older)
    assert view.compare.overlay.point_counts() == [3, 3, 3, 3]
    ys = view.compare.overlay.curves[3].getOriginalDataset()[1]  # val accuracy, in percent
    assert list(ys) == pytest.approx([25.0, 50.0, 75.0])
    view.compare.choose(None)
    assert view.compare.overlay.point_counts() == []


def test_finished_run_shows_its_evaluation_and_opens_errors_in_classify(qtbot, window, tiny_dataset):
    open_dataset(qtbot, window, tiny_dataset)
    window.tabs.setCurrentIndex(TRAIN_TAB)
    view = window.training_view
    fill_train_form(view, epochs=1)
    events: list = []
    view.engine_event.connect(events.append)
    with qtbot.waitSignal(view.run_finished, timeout=120_000) as done:
        qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    result = done.args[0]
    evaluated = next(e.result for e in events if isinstance(e, ev.EvalDone))
    panel = view.results
    assert panel.result is evaluated and view.bottom_tabs.currentWidget() is panel
    assert sum(map(sum, evaluated.confusion_matrix)) == evaluated.num_images == events[0].num_val
    assert panel.table.rowCount() == len(result.classes)
    assert "validation images" in view.log.toPlainText()
    # the run itself is not offered for comparison with itself
    view.compare.refresh()
    assert view.compare.combo.findData(str(view.compare.current_run)) == -1

    panel.show_combo.setCurrentIndex(panel.show_combo.findData("all"))
    first = panel.listed_paths()[0]
    with qtbot.waitSignal(window.inference_view.predictions_done, timeout=60_000):
        panel.gallery.doubleClicked.emit(panel.model.index(0))
    assert window.tabs.currentIndex() == CLASSIFY_TAB
    assert window.inference_view.checkpoint == result.checkpoint
    assert window.inference_view.results.rows[0].path == first


def test_a_run_without_evaluation_can_be_evaluated_on_demand(qtbot, checkpoint, trained):
    p = EvalResultsPanel()
    qtbot.addWidget(p)
    p.show()
    try:
        p.set_checkpoint(str(checkpoint))
        assert p.evaluate_button.isVisible() and "stopped" in p.summary.text()
        qtbot.mouseClick(p.evaluate_button, Qt.MouseButton.LeftButton)
        assert not p.evaluate_button.isEnabled()  # one at a time
        qtbot.waitUntil(lambda: p.result is not None, timeout=60_000)
        num_val = next(e for e in trained[1] if isinstance(e, ev.RunStarted)).num_val
        assert p.result.num_images == num_val == sum(map(sum, p.result.confusion_matrix))
        assert not p.evaluate_button.isVisible() and p.table.rowCount() == 4
    finally:
        p.shutdown()
