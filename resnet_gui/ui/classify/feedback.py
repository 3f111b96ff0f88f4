"""The feedback loop under a prediction: Correct / Wrong, it is ▸ class adds the image to the open dataset.

An image from elsewhere is copied into the class's folder (the user's file never moves); one already in
the dataset is kept (Correct) or moved to the class (Wrong). Both go through the journal, so Undo works
here and in the Dataset tab. A badge counts the images added since the last training, with Retrain.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

from resnet_gui.ui.common import settings
from resnet_gui.ui.dataset.fixes import FixActions
from resnet_gui.ui.state import AppState

if TYPE_CHECKING:
    from resnet_gui.ui.jobs import Row

_TRAINED_KEY = "feedback/trained"


def mark_trained(root: str | None) -> None:
    """A run on `root` finished: the badge counts from now."""
    if root:
        s = settings()
        s.setValue(f"{_TRAINED_KEY}/{_key(root)}", time.time())


def last_trained(root: str) -> float:
    value = settings().value(f"{_TRAINED_KEY}/{_key(root)}", 0.0)
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _key(root: str) -> str:
    return os.path.abspath(root).replace("/", "|").replace("\\", "|")


class FeedbackBar(QWidget):
    """Correct / Wrong, it is ▸ under the shown prediction, and the added-since-training badge."""

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.row: Row | None = None
        self.fixes = FixActions(lambda: state.dataset.root if state.dataset is not None else None, self)
        self.fixes.changed.connect(self._on_changed)
        self.fixes.error.connect(lambda text: self.note.setText(f"<span style='color:#b3261e'>{text}</span>"))
        self.fixes.install(self)
        self.question = QLabel("Is this right?")
        self.correct_button = QPushButton("✓ Correct")
        self.correct_button.clicked.connect(self.correct)
        self.wrong_button = QToolButton()
        self.wrong_button.setText("✗ Wrong, it is ▸")
        self.wrong_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.note = QLabel()
        self.badge = QLabel()
        self.badge.setStyleSheet("QLabel { background: #e8f0fe; border-radius: 8px; padding: 2px 8px; }")
        self.retrain_button = QPushButton("Retrain")
        self.retrain_button.setToolTip("Train again on the dataset with the images you added")
        self.retrain_button.clicked.connect(lambda _checked=False: state.request_retrain())
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for w in (self.question, self.correct_button, self.wrong_button, self.note):
            layout.addWidget(w)
        layout.addStretch(1)
        layout.addWidget(self.badge)
        layout.addWidget(self.retrain_button)
        state.dataset_changed.connect(lambda _r: self._refresh())
        self._refresh()

    # --- what is shown ------------------------------------------------------------------------------
    def show_row(self, row: Row | None) -> None:
        self.row = row
        self.note.setText("")
        self._refresh()

    def _inside_dataset(self, path: str) -> bool:
        root = self.fixes.root()
        return bool(root) and os.path.abspath(path).startswith(os.path.abspath(root) + os.sep)

    def _refresh(self) -> None:
        root = self.fixes.root()
        row = self.row
        usable = root is not None and row is not None and bool(row.path) and not row.prediction.error
        for w in (self.correct_button, self.wrong_button):
            w.setEnabled(usable)
        if root is None:
            tip = "Open a dataset in the Dataset tab to add images to it"
        elif row is not None and not row.path:
            tip = "A pasted image has no file: save it first to add it"
        else:
            tip = f"Adds a copy to {root} (your file stays where it is; Ctrl+Z undoes)"
        self.correct_button.setToolTip(tip)
        self.wrong_button.setToolTip(tip)
        classes = list(self.state.dataset.index.classes) if self.state.dataset is not None else []
        self.wrong_button.setMenu(self.fixes.move_menu(lambda: [], classes, self, on_class=self.wrong))
        n = self.added_since_training()
        self.badge.setText(f"{n} image{'s' if n != 1 else ''} added since the last training")
        self.badge.setVisible(n > 0)
        self.retrain_button.setVisible(n > 0)

    def added_since_training(self) -> int:
        root = self.fixes.root()
        if root is None:
            return 0
        j = self.fixes.journal()
        return j.added_since(last_trained(root)) if j is not None else 0

    def dataset_classes(self) -> list[str]:
        return list(self.state.dataset.index.classes) if self.state.dataset is not None else []

    def add_file(self, path: str, to_class: str) -> object | None:
        """A file from elsewhere (the video page's frame) copied into `to_class`, journaled."""
        change = self.fixes.add_copies([path], to_class)
        if change is not None:
            self.note.setText(f"frame added to '{to_class}'")
        return change

    # --- the two answers ----------------------------------------------------------------------------
    def correct(self) -> None:
        if self.row is None or not self.row.prediction.topk:
            return
        self._add(self.row.prediction.topk[0][0], correct=True)

    def wrong(self, to_class: str) -> None:
        self._add(to_class, correct=False)

    def _add(self, to_class: str, correct: bool) -> None:
        row = self.row
        if row is None or not row.path:
            return
        if self._inside_dataset(row.path):
            from pathlib import Path

            here = Path(row.path).parent.name
            if here == to_class:
                change = self.fixes.keep([row.path])
            else:
                change = self.fixes.relabel([row.path], to_class)
        else:
            change = self.fixes.add_copies([row.path], to_class)
        if change is not None:
            what = (
                "kept"
                if change.kind == "keep"
                else f"added to '{to_class}'"
                if change.kind == "add"
                else f"moved to '{to_class}'"
            )
            self.note.setText(f"{'Thanks: ' if correct else ''}{what}")

    def _on_changed(self, _change: object) -> None:
        self._refresh()
        root = self.fixes.root()
        if root is not None:
            self.state.report_files_changed(root)
