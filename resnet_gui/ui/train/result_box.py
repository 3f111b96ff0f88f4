"""The box under the Train tab's curves once a run has ended: its best accuracy, the checkpoint, and
what to do next (use it in Classify, show its folder, train more epochs). A run that ended without a
result (its process died or was force-stopped) still offers the best checkpoint it saved."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from resnet_gui.format import fmt_pct
from resnet_gui.ui.common import heading

if TYPE_CHECKING:
    from resnet_gui.engine.config import TrainResult


class ResultBox(QFrame):
    """A finished run's result; the view connects the buttons and enables them."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = heading("")
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.use_button = QPushButton("Use in Classify")
        self.use_button.setToolTip("Load this checkpoint in the Classify tab")
        self.folder_button = QPushButton("Show Folder")
        self.more_epochs = QSpinBox()
        self.more_epochs.setRange(1, 1000)
        self.more_epochs.setValue(5)
        self.more_epochs.setPrefix("+")
        self.more_epochs.setSuffix(" epochs")
        self.continue_button = QPushButton("Continue training")
        self.continue_button.setToolTip(
            "Train more epochs from the saved state (optimizer and schedule carry on)"
        )
        rb = QHBoxLayout()
        rb.addWidget(self.use_button)
        rb.addWidget(self.folder_button)
        rb.addStretch(1)
        rb.addWidget(self.continue_button)
        rb.addWidget(self.more_epochs)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.details)
        layout.addLayout(rb)
        self.hide()

    def show_result(self, r: TrainResult, checkpoint: str | None) -> None:
        self.title.setText(
            f"Best validation accuracy: {fmt_pct(r.best_val_acc)}"
            if r.best_val_acc is not None
            else "Training finished (no validation images)"
        )
        lines = []
        if r.stopped:
            lines.append("Stopped early; the best checkpoint so far is kept.")
        elif getattr(r, "stop_detail", ""):
            lines.append(f"{r.stop_detail[:1].upper()}{r.stop_detail[1:]}; the best checkpoint is kept.")
        lines.append(
            f"Checkpoint: {checkpoint}"
            if checkpoint
            else "No checkpoint was saved (stopped before the first epoch)."
        )
        if r.skipped:
            lines.append(f"{len(r.skipped)} unreadable images were skipped (see the log).")
        self.details.setText("<br>".join(lines))
        self.show()

    def show_unfinished(self, stopped: bool, checkpoint: str) -> None:
        """A run that ended without a result (its process was killed or died) but saved a best checkpoint."""
        self.title.setText("Stopped" if stopped else "Training failed")
        self.details.setText(f"The best checkpoint so far is kept: {checkpoint}")
        self.show()

    def set_enabled(self, running: bool, has_checkpoint: bool, can_continue: bool) -> None:
        self.use_button.setEnabled(not running and has_checkpoint)
        self.folder_button.setEnabled(not running and has_checkpoint)
        self.continue_button.setEnabled(not running and can_continue)
        self.more_epochs.setEnabled(not running)
