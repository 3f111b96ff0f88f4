"""Helpers the UI tests share."""

from __future__ import annotations

from pathlib import Path


def fill_train_form(view, epochs: int = 2, batch_size: int = 8, img_size: int = 32) -> None:
    """Tiny settings: a run takes a few seconds on a laptop CPU."""
    form = view.form
    form.arch.setCurrentIndex(form.arch.findData("resnet18"))
    form.epochs.setValue(epochs)
    form.batch_size.setValue(batch_size)
    form.img_size.setValue(img_size)
    form.pretrained.setCurrentIndex(0)
    form.device.setCurrentIndex(form.device.findData("cpu"))


def open_dataset(qtbot, window, path: Path) -> None:
    with qtbot.waitSignal(window.dataset_view.dataset_loaded, timeout=30_000):
        window.open_dataset(str(path))


def drop_paths(widget, paths) -> bool:
    """Deliver a real QDropEvent with file URLs to `widget` (QTest cannot drive a drag); True if accepted."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(
        QPointF(20, 20),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    widget.dropEvent(event)
    return event.isAccepted()


def drag_enter_accepted(widget, paths) -> bool:
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDragEnterEvent(
        QPointF(20, 20),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    event.ignore()
    widget.dragEnterEvent(event)
    return event.isAccepted()
