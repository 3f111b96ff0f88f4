"""Live training curves (pyqtgraph): loss per step (raw + smoothed) and per epoch, accuracy per epoch.

Curves are created once; new points go into plain lists and a QTimer pushes them with `setData` at most
`max_fps` times a second, only when something changed (pyqtgraph's scrollingPlots recipe).
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QHBoxLayout, QWidget

BLUE, ORANGE, GREY = "#1f77b4", "#ff7f0e", "#9aa5b1"
pg.setConfigOptions(antialias=True)


def _style_plot(widget: pg.PlotWidget, title: str, ylabel: str) -> None:
    pal = widget.palette()
    fg = pal.color(QPalette.ColorRole.Text)
    widget.setBackground(pal.color(QPalette.ColorRole.Base))
    item = widget.getPlotItem()
    item.setTitle(title, color=fg.name(), size="11pt")
    for side in ("left", "bottom"):
        axis = item.getAxis(side)
        axis.setPen(pg.mkPen(fg))
        axis.setTextPen(pg.mkPen(fg))
    item.setLabel("bottom", "epoch")
    item.setLabel("left", ylabel)
    item.showGrid(x=True, y=True, alpha=0.25)
    item.setMenuEnabled(False)
    widget.setMinimumSize(260, 200)


class TrainingPlots(QWidget):
    """Two plots side by side. Feed with add_step / add_epoch; `flush()` draws now."""

    def __init__(self, parent: QWidget | None = None, max_fps: float = 5.0, smoothing: float = 0.6):
        super().__init__(parent)
        self.smoothing = smoothing
        self.loss_plot = pg.PlotWidget()
        self.acc_plot = pg.PlotWidget()
        _style_plot(self.loss_plot, "Loss", "loss")
        _style_plot(self.acc_plot, "Accuracy", "accuracy (%)")
        self.acc_plot.setYRange(0, 100, padding=0.02)
        self.acc_plot.getPlotItem().getViewBox().setLimits(yMin=-5, yMax=105)

        self._legend(self.loss_plot, offset=(-10, 10))
        self.step_curve = self.loss_plot.plot(pen=pg.mkPen(GREY, width=1), name="per step")
        self.smooth_curve = self.loss_plot.plot(pen=pg.mkPen(BLUE, width=2), name="per step, smoothed")
        self.train_loss_curve = self._epoch_curve(self.loss_plot, BLUE, "train (epoch)")
        self.val_loss_curve = self._epoch_curve(self.loss_plot, ORANGE, "val (epoch)", dashed=True)
        for curve in (self.step_curve, self.smooth_curve):
            curve.setDownsampling(auto=True, method="mean")
            curve.setClipToView(True)

        self._legend(self.acc_plot, offset=(-10, -10))
        self.train_acc_curve = self._epoch_curve(self.acc_plot, BLUE, "train")
        self.val_acc_curve = self._epoch_curve(self.acc_plot, ORANGE, "val", dashed=True)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.loss_plot)
        layout.addWidget(self.acc_plot)

        self._timer = QTimer(self)
        self._timer.setInterval(int(1000 / max_fps))
        self._timer.timeout.connect(self._redraw_if_dirty)
        self.redraw_count = 0
        self._step_x: list[float] = []
        self._step_y: list[float] = []
        self._smooth_y: list[float] = []
        self._ema = 0.0
        self._ema_n = 0
        self._epoch_x: list[float] = []
        self._train_loss: list[float] = []
        self._val_loss_x: list[float] = []
        self._val_loss: list[float] = []
        self._train_acc: list[float] = []
        self._val_acc_x: list[float] = []
        self._val_acc: list[float] = []
        self._dirty = True
        self.reset()

    def _legend(self, plot: pg.PlotWidget, offset: tuple[int, int]) -> pg.LegendItem:
        """A legend on a translucent card, so curves passing under it stay readable."""
        base = self.palette().color(QPalette.ColorRole.Base)
        base.setAlpha(215)
        legend = plot.getPlotItem().addLegend(
            offset=offset, brush=pg.mkBrush(base), pen=pg.mkPen(GREY), verSpacing=-4
        )
        legend.setLabelTextColor(self.palette().color(QPalette.ColorRole.Text))
        return legend

    @staticmethod
    def _epoch_curve(plot: pg.PlotWidget, color: str, name: str, dashed: bool = False) -> pg.PlotDataItem:
        style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
        return plot.plot(
            pen=pg.mkPen(color, width=2, style=style),
            symbol="o",
            symbolSize=7,
            symbolBrush=color,
            symbolPen=pg.mkPen(color),
            name=name,
        )

    # --- data -------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every point (a new run)."""
        for points in (
            self._step_x,
            self._step_y,
            self._smooth_y,
            self._epoch_x,
            self._train_loss,
            self._val_loss_x,
            self._val_loss,
            self._train_acc,
            self._val_acc_x,
            self._val_acc,
        ):
            points.clear()
        self._ema = 0.0
        self._ema_n = 0
        self._dirty = True
        self.flush()

    def add_step(self, x: float, loss: float) -> None:
        """One step's loss at fractional epoch `x` (epoch 1 spans 0..1)."""
        self._ema = self.smoothing * self._ema + (1 - self.smoothing) * loss
        self._ema_n += 1
        self._step_x.append(x)
        self._step_y.append(loss)
        self._smooth_y.append(self._ema / (1 - self.smoothing**self._ema_n))  # debiased EMA
        self._mark_dirty()

    def add_epoch(
        self,
        epoch: int,
        train_loss: float,
        train_acc: float | None,
        val_loss: float | None,
        val_acc: float | None,
    ) -> None:
        """Per-epoch points; accuracies are fractions (0..1), drawn as percent."""
        self._epoch_x.append(epoch)
        self._train_loss.append(train_loss)
        self._train_acc.append(100.0 * train_acc if train_acc is not None else float("nan"))
        if val_loss is not None:
            self._val_loss_x.append(epoch)
            self._val_loss.append(val_loss)
        if val_acc is not None:
            self._val_acc_x.append(epoch)
            self._val_acc.append(100.0 * val_acc)
        self._mark_dirty()

    def point_counts(self) -> dict[str, int]:
        """How many points each curve shows now (tests and the screenshot script read this)."""
        curves = {
            "step": self.step_curve,
            "smoothed": self.smooth_curve,
            "train_loss": self.train_loss_curve,
            "val_loss": self.val_loss_curve,
            "train_acc": self.train_acc_curve,
            "val_acc": self.val_acc_curve,
        }
        out = {}
        for name, curve in curves.items():
            x, _ = curve.getOriginalDataset()
            out[name] = 0 if x is None else len(x)
        return out

    # --- drawing ----------------------------------------------------------------------------------
    def stop_live(self) -> None:
        """Draw what is pending now and let the timer rest."""
        self._timer.stop()
        self.flush()

    def _mark_dirty(self) -> None:
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def _redraw_if_dirty(self) -> None:
        if self._dirty:
            self.flush()
        else:
            self._timer.stop()  # idle: no wake-ups until new points arrive

    def flush(self) -> None:
        self._dirty = False
        self.step_curve.setData(self._step_x, self._step_y)
        self.smooth_curve.setData(self._step_x, self._smooth_y)
        self.train_loss_curve.setData(self._epoch_x, self._train_loss)
        self.val_loss_curve.setData(self._val_loss_x, self._val_loss)
        self.train_acc_curve.setData(self._epoch_x, self._train_acc)
        self.val_acc_curve.setData(self._val_acc_x, self._val_acc)
        self.redraw_count += 1
