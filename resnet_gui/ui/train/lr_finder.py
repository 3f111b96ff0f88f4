"""Find LR…: the learning-rate finder (engine/train/lr_find.py) from the Train form.

A "Find LR…" button under the form's Learning rate field opens a dialog that sweeps the learning rate on
a worker with the form's settings, draws loss against learning rate as it goes (pyqtgraph, log x), marks
the suggestion, and "Use" puts it in the Learning rate field. Disabled while a training run is going.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from resnet_gui.ui.common import error_text
from resnet_gui.ui.jobs_tools import find_lr
from resnet_gui.ui.workers import LatestJob

if TYPE_CHECKING:
    from resnet_gui.engine.config import TrainConfig


def fmt_lr(lr: float) -> str:
    """2 significant digits, as a user would type it: 0.0027, 3e-05."""
    return f"{lr:.2g}"


class LrFinderDialog(QDialog):
    """The sweep for one config: live plot, the suggestion, Use / Stop / Close."""

    def __init__(self, config: TrainConfig, on_use, parent: QWidget | None = None):
        super().__init__(parent)
        from resnet_gui.engine.config import arch_label

        self.setWindowTitle("Find a learning rate")
        self.resize(760, 500)
        self.config = config
        self.on_use = on_use
        self.result = None
        self._job = LatestJob(self)
        self.lrs: list[float] = []
        self.smoothed: list[float] = []

        frozen = ", frozen backbone" if config.freeze_backbone else ""
        about = QLabel(
            f"A short training run with the learning rate growing from 1e-7 to 10 "
            f"({arch_label(config.arch)}, pretrained: {config.pretrained}{frozen}, batch {config.batch_size}); "
            "it stops once the loss blows up. Nothing is saved. A good learning rate lies where the loss "
            "falls fastest, well before its minimum."
        )
        about.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.setBackground("w")
        self.plot.setLogMode(x=True, y=False)
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.setLabel("bottom", "learning rate")
        self.plot.setLabel("left", "training loss (smoothed)")
        self.curve = self.plot.plot([], [], pen=pg.mkPen("#1f77b4", width=2))
        self.marker = pg.InfiniteLine(angle=90, pen=pg.mkPen("#d62728", width=2, style=Qt.PenStyle.DashLine))
        self.marker.setVisible(False)
        self.plot.addItem(self.marker)
        self.progress = QProgressBar()
        self.progress.setFormat("Starting…")
        self.status = QLabel(" ")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.use_button = QPushButton("Use")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self.use)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self._job.stop)
        self.buttons.addButton(self.use_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(self.stop_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(about)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)

    def start(self) -> None:
        self._job.start(
            find_lr,
            self.config,
            events=True,
            on_event=self._on_step,
            on_done=self._on_done,
            on_error=self._on_error,
            on_finished=lambda: self.stop_button.setEnabled(False),
        )

    def is_running(self) -> bool:
        return self._job.is_running()

    def _on_step(self, e: object) -> None:
        from resnet_gui.engine.train.lr_find import LrFindStep

        if not isinstance(e, LrFindStep):
            return
        self.lrs.append(e.lr)
        self.smoothed.append(e.smoothed)
        self.curve.setData(self.lrs, self.smoothed)
        self.progress.setRange(0, e.steps)
        self.progress.setValue(e.step)
        self.progress.setFormat(f"step {e.step} of {e.steps} · lr {e.lr:.1e} · loss {e.smoothed:.3f}")

    def _on_done(self, result) -> None:
        self.result = result
        self.lrs, self.smoothed = list(result.lrs), list(result.smoothed)
        self.curve.setData(self.lrs, self.smoothed)
        self._fit_y()
        self.progress.setValue(self.progress.maximum())
        end = "stopped" if result.stopped else ("the loss diverged" if result.diverged else "done")
        self.progress.setFormat(f"{len(result.lrs)} steps in {result.wall_s:.0f} s ({end})")
        if result.suggestion is None:
            self.status.setText("The sweep was too short to suggest anything; try more images.")
            return
        import math

        self.marker.setValue(math.log10(result.suggestion))
        self.marker.setVisible(True)
        self.status.setText(
            f"Suggested learning rate: <b>{fmt_lr(result.suggestion)}</b> (fastai's “valley” rule: half way "
            f"down the longest fall of the loss). Steepest fall at {fmt_lr(result.steepest or 0)}, lowest "
            f"loss at {fmt_lr(result.min_loss_lr or 0)}; the automatic default is {fmt_lr(result.default_lr)}."
        )
        self.use_button.setText(f"Use {fmt_lr(result.suggestion)}")
        self.use_button.setEnabled(True)
        self.use_button.setDefault(True)

    def _fit_y(self) -> None:
        """Show the fall, not the blow-up: the y range ends a little above the starting loss."""
        if len(self.smoothed) < 2:
            return
        low, start = min(self.smoothed), self.smoothed[0]
        top = min(max(self.smoothed), start + max(0.5 * (start - low), 0.25 * abs(start)))
        self.plot.setYRange(low - 0.05 * (top - low), top, padding=0)

    def _on_error(self, exc: BaseException) -> None:
        self.status.setStyleSheet("color: #b3261e;")
        self.status.setText(f"The sweep failed: {error_text(exc)}")
        self.progress.setFormat("failed")

    def use(self) -> None:
        if self.result is not None and self.result.suggestion is not None:
            self.on_use(self.result.suggestion)
            self.accept()

    def reject(self) -> None:
        self.shutdown()
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the sweep and wait for its thread (it stops within one batch)."""
        self._job.shutdown()


class LrFinder:
    """The Find LR… button under the Train form's Learning rate field, and the dialog it opens."""

    def __init__(self, view: Any):  # the TrainingView (not imported: it imports this module)
        self.view = view
        self.dialog: LrFinderDialog | None = None
        self.button = QPushButton("Find LR…")
        self.button.setToolTip("Sweep the learning rate briefly and suggest one (fastai's lr_find)")
        self.button.clicked.connect(self.open)
        form = self._form_layout()
        row, _role = form.getWidgetPosition(view.form.lr)
        form.insertRow(row + 1, "", self.button)
        view.running_changed.connect(lambda running: self.button.setEnabled(not running))

    def _form_layout(self) -> QFormLayout:
        layout = self.view.form.lr.parentWidget().layout()
        assert isinstance(layout, QFormLayout)
        return layout

    def open(self) -> LrFinderDialog | None:
        """Start a sweep with the form's settings (a message in the view if they are not usable)."""
        if self.dialog is not None and self.dialog.is_running():
            self.dialog.raise_()
            return self.dialog
        try:
            config = self.view.build_config(lr=None, epochs=1)
        except ValueError as exc:
            self.view._show_error(str(exc))
            return None
        self.dialog = LrFinderDialog(config, self.use, self.view)
        self.dialog.show()
        self.dialog.start()
        return self.dialog

    def use(self, lr: float) -> None:
        self.view.form.lr.setText(fmt_lr(lr))

    def shutdown(self) -> None:
        if self.dialog is not None:
            self.dialog.shutdown()
