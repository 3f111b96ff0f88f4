"""Classify view: drops with QMimeData file URLs, top-k and timings, errors in the view, empty state."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage

from resnet_gui.ui.main_window import CLASSIFY_TAB
from tests.ui.helpers import drag_enter_accepted, drop_paths


def _images(root: Path, n: int) -> list[Path]:
    return sorted(root.glob("*/*.png"))[:n]


@pytest.fixture
def view(window):
    """The Classify tab, shown."""
    window.tabs.setCurrentIndex(CLASSIFY_TAB)
    return window.inference_view


def _load(qtbot, view, checkpoint) -> None:
    with qtbot.waitSignal(view.checkpoint_loaded, timeout=60_000):
        view.load_checkpoint(str(checkpoint))


def test_empty_state_explains_how_to_get_a_model(qtbot, view, tiny_dataset):
    assert view.pages.currentIndex() == 0
    assert not view.open_images_button.isEnabled()
    drop_paths(view, _images(tiny_dataset, 1))
    assert view.message.isVisible()
    assert "No model loaded yet" in view.message.text()


def test_dropping_images_shows_predictions_and_timings(qtbot, view, tiny_dataset, checkpoint):
    _load(qtbot, view, checkpoint)
    assert "resnet18" in view.model_label.text() and "4 classes" in view.model_label.text()
    images = _images(tiny_dataset, 3)
    assert drag_enter_accepted(view, images)
    with qtbot.waitSignal(view.predictions_done, timeout=60_000):
        assert drop_paths(view, images)
    assert view.results.rowCount() == 3
    assert view.pages.currentIndex() == 2
    bars = view.detail.topk.values()
    assert len(bars) == 4  # top-k is capped at the number of classes
    assert sum(v for _, v in bars) > 900  # probabilities in tenths of a percent
    classes = {"circle", "square", "star", "triangle"}
    shown = view.selected_row().prediction
    title = view.detail.result_title.text()
    # a class and its probability, or (an image the model does not recognise) its verdict
    assert title == "Unknown" if shown.unknown else title.split(" — ")[0] in classes
    timing = view.detail.timing_label.text()
    for part in ("load", "preprocess", "forward", " ms", "CPU"):
        assert part in timing
    assert not view.message.isVisible()
    # the table is sortable by confidence
    view.table.sortByColumn(3, Qt.SortOrder.DescendingOrder)
    confs = [view.proxy.index(r, 3).data() for r in range(3)]
    assert confs == sorted(confs, key=lambda s: float(s.rstrip("%")), reverse=True)


def test_dropping_a_non_image_shows_an_error_and_the_app_keeps_working(
    qtbot, view, tiny_dataset, checkpoint, tmp_path
):
    _load(qtbot, view, checkpoint)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    with qtbot.waitSignal(view.predictions_done, timeout=60_000):
        drop_paths(view, [notes])
    assert view.message.isVisible()
    assert "notes.txt" in view.message.text()
    assert view.results.rows[0].prediction.error
    # still works
    with qtbot.waitSignal(view.predictions_done, timeout=60_000):
        drop_paths(view, _images(tiny_dataset, 1))
    assert view.results.rowCount() == 1
    assert view.results.rows[0].prediction.error is None
    assert not view.message.isVisible()


def test_dropping_a_folder_classifies_the_images_inside(qtbot, view, tiny_dataset, checkpoint, tmp_path):
    _load(qtbot, view, checkpoint)
    with qtbot.waitSignal(view.predictions_done, timeout=60_000) as done:
        drop_paths(view, [tiny_dataset / "star"])
    assert done.args[0] == 6 and view.results.rowCount() == 6
    out = tmp_path / "out.csv"
    view.export_csv(str(out))
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 6
    assert rows[0]["class"] in ("circle", "square", "star", "triangle") and float(rows[0]["total_ms"]) > 0


def test_paste_an_image_from_the_clipboard(qtbot, view, tiny_dataset, checkpoint):
    _load(qtbot, view, checkpoint)
    QGuiApplication.clipboard().setImage(QImage(str(_images(tiny_dataset, 1)[0])))
    with qtbot.waitSignal(view.predictions_done, timeout=60_000):
        view.paste()
    assert view.results.rowCount() == 1
    assert view.results.rows[0].name == "Pasted image"
    assert view.results.rows[0].prediction.error is None


def test_a_broken_checkpoint_is_an_error_in_the_view(qtbot, view, tmp_path):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"garbage")
    with qtbot.waitSignal(view.error, timeout=60_000):
        drop_paths(view, [bad])
    assert "Cannot load model.safetensors" in view.message.text()
    assert view.pages.currentIndex() == 0  # back to the friendly empty state
