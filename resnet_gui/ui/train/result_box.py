"""The box under the Train tab's curves once a run has ended: its best accuracy, the checkpoint, and
what to do next (use it in Classify, show its folder, train more epochs). A run that ended without a
result (its process died or was force-stopped) still offers the best checkpoint it saved.

Only what makes sense is offered: a run stopped before its first epoch finished has nothing usable
(no Use in Classify, no Continue), and a result at chance level, or one that predicts a single class
for everything, says so plainly with the likely causes (engine/verdict.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from resnet_gui.engine.verdict import Verdict, judge
from resnet_gui.format import fmt_pct
from resnet_gui.ui.common import heading

if TYPE_CHECKING:
    from resnet_gui.engine.config import TrainResult

NOTHING_YET = "Stopped before the first epoch finished: nothing usable yet"
WARN_STYLE = "color: #b35900;"  # the verdict line: orange, readable on light and dark palettes


def run_verdict(r: TrainResult, num_val: int | None = None) -> Verdict | None:
    """The chance / single-class judgement of a run: from its final evaluation's confusion matrix when
    there is one, else from its best validation accuracy on `num_val` images."""
    ev = r.evaluation or {}
    if ev.get("confusion_matrix"):
        return judge(len(r.classes), confusion=ev["confusion_matrix"])
    return judge(len(r.classes), accuracy=r.best_val_acc, num_images=num_val)


class ResultBox(QFrame):
    """A finished run's result; the view connects the buttons and enables them."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.usable = True  # False: the run has no trained model to use or continue
        self.verdict: Verdict | None = None
        self.num_val: int | None = None  # of the run shown: validation images, completed epochs
        self.epochs_done = 0
        self.title = heading("")
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(WARN_STYLE)
        self.warning.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warning.hide()
        self.use_button = QPushButton("Use in Classify")
        self.use_button.setToolTip("Load this checkpoint in the Classify tab")
        self.folder_button = QPushButton("Show Folder")
        self.folder_button.setToolTip("Open the run's folder (checkpoints, run.json)")
        self.more_epochs = QSpinBox()
        self.more_epochs.setRange(1, 1000)
        self.more_epochs.setValue(5)
        self.more_epochs.setPrefix("+")
        self.more_epochs.setSuffix(" epochs")
        self.continue_button = QPushButton("Continue training")
        self.continue_button.setToolTip(
            "Train more epochs: the schedule carries on (and, after Stop, the optimizer's saved state)"
        )
        rb = QHBoxLayout()  # the title and what to do next on one line: the curves above keep their room
        rb.addWidget(self.title, 1)
        rb.addWidget(self.use_button)
        rb.addWidget(self.folder_button)
        rb.addSpacing(12)
        rb.addWidget(self.continue_button)
        rb.addWidget(self.more_epochs)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(4)
        layout.addLayout(rb)
        layout.addWidget(self.details)
        layout.addWidget(self.warning)
        self.hide()

    def note_event(self, e: object) -> None:
        """What the box needs to know of a run as it goes (the view passes every engine event)."""
        from resnet_gui.engine import events as ev

        if isinstance(e, ev.RunStarted):
            self.num_val, self.epochs_done = e.num_val, e.start_epoch
        elif isinstance(e, ev.EpochDone):
            self.epochs_done = e.epoch

    def _set_usable(self, usable: bool) -> None:
        self.usable = usable
        for w in (self.use_button, self.continue_button, self.more_epochs):
            w.setVisible(usable)

    def _set_verdict(self, verdict: Verdict | None) -> None:
        self.verdict = verdict
        self.warning.setText(f"⚠ {verdict.text}" if verdict else "")
        self.warning.setVisible(verdict is not None)

    def show_result(self, r: TrainResult, checkpoint: str | None, num_val: int | None = None) -> None:
        """`num_val`: the run's validation images (RunStarted), for the chance judgement."""
        untrained = r.stopped and not r.history  # no epoch completed: the weights are barely touched
        self._set_usable(not untrained and checkpoint is not None)
        if untrained:
            self.title.setText(NOTHING_YET)
            self.details.setText(
                "The model saw only part of one epoch and was never validated. Start again and let at "
                "least one epoch finish; its folder is kept" + (f": {checkpoint}" if checkpoint else ".")
            )
            self._set_verdict(None)
            self.show()
            return
        self.title.setText(
            f"Best validation accuracy: {fmt_pct(r.best_val_acc)}"
            if r.best_val_acc is not None
            else "Training finished (no validation images)"
        )
        lines = []
        if r.stopped:
            lines.append(f"Stopped after {len(r.history)} epochs; the best checkpoint so far is kept.")
        elif getattr(r, "stop_detail", ""):
            lines.append(f"{r.stop_detail[:1].upper()}{r.stop_detail[1:]}; the best checkpoint is kept.")
        lines.append(f"Checkpoint: {checkpoint}" if checkpoint else "No checkpoint was saved.")
        if r.skipped:
            lines.append(f"{len(r.skipped)} unreadable images were skipped (see the log).")
        self.details.setText("<br>".join(lines))
        self._set_verdict(run_verdict(r, num_val if num_val is not None else self.num_val))
        self.show()

    def show_unfinished(self, stopped: bool, checkpoint: str, epochs_done: int | None = None) -> None:
        """A run that ended without a result (its process was killed or died) but saved a best checkpoint;
        no epoch done (`epochs_done`, else what `note_event` saw): only a partly trained model."""
        epochs_done = self.epochs_done if epochs_done is None else epochs_done
        self._set_verdict(None)
        self._set_usable(epochs_done > 0)
        if epochs_done > 0:
            self.title.setText("Stopped" if stopped else "Training failed")
            self.details.setText(f"The best checkpoint so far is kept: {checkpoint}")
        else:
            self.title.setText(NOTHING_YET if stopped else "Training failed before the first epoch finished")
            self.details.setText(f"Nothing usable was saved; the run's folder is kept: {checkpoint}")
        self.show()

    def set_enabled(self, running: bool, has_checkpoint: bool, can_continue: bool) -> None:
        self.use_button.setEnabled(not running and has_checkpoint and self.usable)
        self.folder_button.setEnabled(not running and has_checkpoint)
        self.continue_button.setEnabled(not running and can_continue and self.usable)
        self.more_epochs.setEnabled(not running)
