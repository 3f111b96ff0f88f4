"""Dataset browser: counts, split, problems, thumbnails off the GUI thread, class filter, image dialog."""

from __future__ import annotations

import shutil

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap

from resnet_gui.ui.dataset.widgets import THUMB, ImageDialog
from tests.ui.helpers import open_dataset


def test_opening_the_demo_folder_fills_counts_and_thumbnails(qtbot, window, tiny_dataset):
    view = window.dataset_view
    with qtbot.waitSignal(view.dataset_loaded, timeout=30_000):
        view.open_folder(str(tiny_dataset))
        assert view.result is None  # the scan runs on a worker thread, not inside the call
    assert view.total_label.text() == "24 images · 4 classes"
    assert "20 train · 4 val" in view.split_label.text()
    assert "automatic" in view.split_label.text()
    assert [(name, tr + va) for name, tr, va in view.bars._rows] == [
        ("circle", 6),
        ("square", 6),
        ("star", 6),
        ("triangle", 6),
    ]
    assert view.class_filter.count() == 5
    assert view.model.rowCount() == 24
    assert view.problems_label.text().endswith("none found")

    # thumbnails are decoded on the pool: a placeholder first, the picture once it is ready
    first = view.model.index(0)
    assert isinstance(view.model.data(first, Qt.ItemDataRole.DecorationRole), QPixmap)
    qtbot.waitUntil(lambda: view.model.cached_count() == 24, timeout=30_000)
    deco = view.model.data(view.model.index(0), Qt.ItemDataRole.DecorationRole)
    assert isinstance(deco, QImage)
    assert max(deco.width(), deco.height()) == THUMB


def test_class_filter_shows_only_that_class(qtbot, window, tiny_dataset):
    open_dataset(qtbot, window, tiny_dataset)
    view = window.dataset_view
    view.class_filter.setCurrentIndex(3)  # "star (6)"
    m = view.model
    assert m.rowCount() == 6
    assert {m.data(m.index(r), m.ClassRole) for r in range(m.rowCount())} == {"star"}
    view.split_filter.setCurrentIndex(2)  # val only
    assert m.rowCount() == 1
    assert view.shown_label.text() == "1 shown"


def test_unreadable_files_are_listed_as_problems(qtbot, window, tiny_dataset, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    (data / "circle" / "broken.png").write_bytes(b"this is not a png")
    open_dataset(qtbot, window, data)
    view = window.dataset_view
    qtbot.waitUntil(lambda: view.problems.count() == 1, timeout=30_000)
    assert "broken.png" in view.problems.item(0).text()
    assert view.problems_label.text() == "<b>Problems</b> (1)"


def test_double_click_shows_the_image_large(qtbot, window, tiny_dataset):
    open_dataset(qtbot, window, tiny_dataset)
    view = window.dataset_view
    index = view.model.index(0)
    qtbot.waitUntil(lambda: view.grid.visualRect(index).isValid())  # batched layout happens on the loop
    rect = view.grid.visualRect(index)
    # a real double-click is press, release, double-click (item views ignore a lone double-click event)
    qtbot.mouseClick(view.grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(view.grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    dialog = view.findChild(ImageDialog)
    assert dialog is not None
    qtbot.waitUntil(lambda: "32 × 32 px" in dialog.info_label.text(), timeout=10_000)
    assert "circle" in dialog.info_label.text()
    assert str(tiny_dataset) in dialog.info_label.text()
    assert not dialog.image_label.pixmap().isNull()
    dialog.close()


def test_a_bad_folder_shows_a_clear_error(qtbot, window, tmp_path):
    (tmp_path / "only" / "cats").mkdir(parents=True)
    view = window.dataset_view
    with qtbot.waitSignal(view.error, timeout=30_000):
        view.open_folder(str(tmp_path / "only"))
    assert view.message.isVisible()
    assert view.message.text().startswith("Cannot open this folder:")
