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


def _url_event(kind: str, paths):
    """A QDropEvent or QDragEnterEvent ("drop" / "enter") carrying `paths` as file URLs, and its mime data
    (the event does not own it: the caller keeps it alive while the event is delivered)."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    cls = QDropEvent if kind == "drop" else QDragEnterEvent
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    return cls(QPointF(20, 20), Qt.DropAction.CopyAction, mime, buttons, mods), mime


def drop_paths(widget, paths) -> bool:
    """Deliver a real QDropEvent with file URLs to `widget` (QTest cannot drive a drag); True if accepted."""
    event, _mime = _url_event("drop", paths)
    widget.dropEvent(event)
    return event.isAccepted()


def drag_enter_accepted(widget, paths) -> bool:
    event, _mime = _url_event("enter", paths)
    event.ignore()
    widget.dragEnterEvent(event)
    return event.isAccepted()
