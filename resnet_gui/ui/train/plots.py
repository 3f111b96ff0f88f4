"""Live training curves (pyqtgraph): loss per step (raw + smoothed) and per epoch, accuracy per epoch.

Curves are created once; new points go into plain lists and a QTimer pushes them with `setData` at most
`max_fps` times a second, only to the curves that changed (pyqtgraph's scrollingPlots recipe).

A repaint is what costs the GUI thread (axes, grid and text included), so while a run is live the plots
do not auto-range on every update, which would move the axes and repaint everything each time: the
x range runs from 0 to the end of the current epoch (ticks read as epochs from the first step), and the loss range only changes when the data
leaves it or fills too little of it. Auto-range is back (pyqtgraph's own, exact) when the run ends, and a zoom or pan
by hand stops the following as it stops auto-range. The axes, titles and legend labels are cached as
pixmaps, redrawn only when they change. Each legend sits in a row of its own under its plot, never on
the curves.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QGraphicsItem, QHBoxLayout, QWidget

BLUE, ORANGE, GREY = "#1f77b4", "#ff7f0e", "#9aa5b1"
pg.setConfigOptions(antialias=True)
CACHED = QGraphicsItem.CacheMode.DeviceCoordinateCache
Y_FILL = 0.7  # the live loss range is tightened when the data spans less than this share of it
Y_ROOM = 0.12  # and leaves this share of the data's span free below it (the loss keeps falling)
PLOT_MIN_HEIGHT = 230  # title, axes, legend and a readable data area (the log gives way first)
LEGEND_COLUMNS = 4  # legend entries side by side under each plot (a compared run adds a second row)


def epoch_range(x0: float, x1: float) -> tuple[float, float]:
    """The live x range for points from x0 to x1 (fractional epochs): from 0, or the first point of a
    continued run, to the end of the epoch the last point is in, so the ticks read as epochs from the
    first step (0.2, 0.4 ... in epoch 1) and the range grows once an epoch, not at every edge."""
    start = min(0.0, x0) if x0 < 1 else math.floor(x0)
    return start, max(start + 1.0, float(math.ceil(x1 - 1e-9)))


def _cache(item: QGraphicsItem | None) -> None:
    if item is not None:
        item.setCacheMode(CACHED)


def _style_plot(widget: pg.PlotWidget, title: str, ylabel: str) -> None:
    pal = widget.palette()
    fg = pal.color(QPalette.ColorRole.Text)
    widget.setBackground(pal.color(QPalette.ColorRole.Base))
    item = widget.getPlotItem()
    item.setTitle(title, color=fg.name(), size="10pt")
    for side in ("left", "bottom"):
        axis = item.getAxis(side)
        axis.setPen(pg.mkPen(fg))
        axis.setTextPen(pg.mkPen(fg))
    for side in ("left", "bottom"):
        item.getAxis(side).enableAutoSIPrefix(False)  # "epoch (x0.001)" with ticks 100-800 helps nobody
    item.setLabel("bottom", "epoch")
    item.setLabel("left", ylabel)
    item.showGrid(x=True, y=True, alpha=0.25)
    item.setMenuEnabled(False)
    widget.setMinimumSize(260, PLOT_MIN_HEIGHT)
    # tick labels, grid and titles: drawn into a pixmap once per change instead of at every repaint
    for side in ("left", "bottom"):
        axis = item.getAxis(side)
        _cache(axis)
        _cache(axis.label)
    _cache(item.titleLabel.item)


def epoch_curve(
    plot: pg.PlotWidget,
    color: str,
    name: str,
    dashed: bool = False,
    style: Qt.PenStyle | None = None,
    symbol: str = "o",
    size: int = 7,
) -> pg.PlotDataItem:
    """One per-epoch curve (a line with a marker per epoch), created once; `setData` fills it."""
    if style is None:
        style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
    return plot.plot(
        pen=pg.mkPen(color, width=2, style=style),
        symbol=symbol,
        symbolSize=size,
        symbolBrush=color,
        symbolPen=pg.mkPen(color),
        name=name,
    )


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

        self._legend(self.loss_plot, columns=LEGEND_COLUMNS)
        self.step_curve = self.loss_plot.plot(pen=pg.mkPen(GREY, width=1), name="step")
        self.smooth_curve = self.loss_plot.plot(pen=pg.mkPen(BLUE, width=2), name="smoothed")
        self.train_loss_curve = epoch_curve(self.loss_plot, BLUE, "train")
        self.val_loss_curve = epoch_curve(self.loss_plot, ORANGE, "val", dashed=True)
        for curve in (self.step_curve, self.smooth_curve):
            curve.setDownsampling(auto=True, method="mean")
            curve.setClipToView(True)

        self._legend(self.acc_plot, columns=LEGEND_COLUMNS)
        self.train_acc_curve = epoch_curve(self.acc_plot, BLUE, "train")
        self.val_acc_curve = epoch_curve(self.acc_plot, ORANGE, "val", dashed=True)
        for plot in (self.loss_plot, self.acc_plot):
            for _sample, label in plot.getPlotItem().legend.items:
                _cache(label.item)  # the text; a sample's symbol loses its colour in a cache
        self._mine = {
            self.loss_plot: (self.step_curve, self.smooth_curve, self.train_loss_curve, self.val_loss_curve),
            self.acc_plot: (self.train_acc_curve, self.val_acc_curve),
        }
        # live range following, per plot: [x, y] axes followed (auto-range was on there), current ranges
        self._follow: dict[pg.PlotWidget, list[bool]] = {
            self.loss_plot: [False, False],
            self.acc_plot: [False, False],
        }
        self._ranges: dict[pg.PlotWidget, list[tuple[float, float] | None]] = {}
        for plot in (self.loss_plot, self.acc_plot):
            plot.getPlotItem().getViewBox().sigRangeChangedManually.connect(
                lambda mask, plot=plot: self._on_manual_range(plot, mask)
            )
        self._live = False

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
        self._steps_dirty = self._epochs_dirty = True
        self.reset()

    def _legend(self, plot: pg.PlotWidget, columns: int) -> pg.LegendItem:
        """A legend in a row of its own under the plot (PlotItem layout row 4), entries side by side:
        it never covers a curve, whatever the size of the plot."""
        item = plot.getPlotItem()
        legend = pg.LegendItem(offset=None, verSpacing=-6, horSpacing=12)
        legend.setLabelTextColor(self.palette().color(QPalette.ColorRole.Text))
        legend.setColumnCount(columns)
        item.legend = legend  # where plot(name=...) and the compared run's curves add their entries
        item.layout.addItem(legend, 4, 1, alignment=Qt.AlignmentFlag.AlignHCenter)
        return legend

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
        # min/max of the points so far, kept up as they come: step x, epoch x, loss (steps and epochs)
        self._bounds = {
            "step_x": [math.inf, -math.inf],
            "epoch_x": [math.inf, -math.inf],
            "loss": [math.inf, -math.inf],
        }
        self._end_live()
        self._steps_dirty = self._epochs_dirty = True
        self._dirty = True
        self.flush()

    def _extend(self, key: str, x: float, ys: tuple[float | None, ...]) -> None:
        bx, by = self._bounds[key], self._bounds["loss"]
        bx[0], bx[1] = min(bx[0], x), max(bx[1], x)
        for y in ys:
            if y is not None and math.isfinite(y):
                by[0], by[1] = min(by[0], y), max(by[1], y)

    def add_step(self, x: float, loss: float) -> None:
        """One step's loss at fractional epoch `x` (epoch 1 spans 0..1)."""
        self._ema = self.smoothing * self._ema + (1 - self.smoothing) * loss
        self._ema_n += 1
        self._step_x.append(x)
        self._step_y.append(loss)
        self._smooth_y.append(self._ema / (1 - self.smoothing**self._ema_n))  # debiased EMA
        self._extend("step_x", x, (loss, self._smooth_y[-1]))
        self._steps_dirty = True
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
        self._extend("epoch_x", epoch, (train_loss, val_loss))
        self._epochs_dirty = True
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
        """Draw what is pending now and let the timer rest; the plots auto-range again."""
        self._timer.stop()
        self.flush()
        self._end_live()

    def _mark_dirty(self) -> None:
        self._dirty = True
        self._live = True
        if not self._timer.isActive():
            self._timer.start()

    def _end_live(self) -> None:
        """Hand the followed axes back to pyqtgraph's auto-range (exact, as before the run)."""
        self._live = False
        for plot, follow in self._follow.items():
            vb = plot.getPlotItem().getViewBox()
            for axis in (0, 1):
                if follow[axis]:
                    vb.enableAutoRange(axis=axis)
            follow[:] = [False, False]
        self._ranges.clear()

    def _on_manual_range(self, plot: pg.PlotWidget, mask: list[bool]) -> None:
        """A zoom or pan by hand: that axis is the user's now (pyqtgraph stops auto-range there too)."""
        follow = self._follow[plot]
        for axis in (0, 1):
            if mask[axis]:
                follow[axis] = False

    def _data_bounds(self, plot: pg.PlotWidget) -> list[float]:
        """[x min, x max, y min, y max] of what the plot shows: this run's points, kept up as they come,
        and any other curve (a compared run's) from pyqtgraph's cached bounds."""
        (sx0, sx1), (ex0, ex1), (y0, y1) = (self._bounds[k] for k in ("step_x", "epoch_x", "loss"))
        if plot is self.acc_plot:
            b = [ex0, ex1, math.inf, -math.inf]  # epochs only; its y range is fixed (0-100 %)
        else:
            b = [min(sx0, ex0), max(sx1, ex1), y0, y1]
        mine = self._mine[plot]
        for item in plot.getPlotItem().listDataItems():
            if item in mine or not item.isVisible():
                continue
            for axis in (0, 1):
                lo, hi = item.dataBounds(axis)
                if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi):
                    b[2 * axis], b[2 * axis + 1] = min(b[2 * axis], lo), max(b[2 * axis + 1], hi)
        return b

    def _follow_ranges(self) -> None:
        """While live: set the ranges by hand, and only when the data needs it (each change repaints
        the whole plot, axes included); an axis where auto-range is on (the default, or the user's
        auto-range button) is taken over from pyqtgraph."""
        for plot, follow in self._follow.items():
            vb = plot.getPlotItem().getViewBox()
            auto = vb.autoRangeEnabled()
            for axis in (0, 1):
                if auto[axis] is not False:
                    follow[axis] = True
                    vb.disableAutoRange(axis=axis)
                    self._ranges.pop(plot, None)
            if not any(follow):
                continue
            x0, x1, y0, y1 = self._data_bounds(plot)
            now = self._ranges.setdefault(plot, [None, None])
            want: list[tuple[float, float] | None] = [None, None]
            if follow[0] and x0 <= x1:  # changes once an epoch: to the end of the epoch the points are in
                want[0] = epoch_range(x0, x1)
            if follow[1] and y0 <= y1:
                span = max(y1 - y0, 1e-6)
                cur = now[1]
                fits = cur is not None and cur[0] <= y0 and y1 <= cur[1]
                want[1] = cur if fits and span >= Y_FILL * (cur[1] - cur[0]) else (y0 - Y_ROOM * span, y1)
            if want != now:
                kw = {}
                if want[0] is not None and want[0] != now[0]:
                    kw["xRange"] = want[0]
                if want[1] is not None and want[1] != now[1]:
                    kw["yRange"] = want[1]
                if kw:
                    vb.setRange(**kw, update=True)  # padding as auto-range pads
                self._ranges[plot] = want

    def _redraw_if_dirty(self) -> None:
        if self._dirty:
            self.flush()
        else:
            self._timer.stop()  # idle: no wake-ups until new points arrive

    def flush(self) -> None:
        self._dirty = False
        if self._live:
            self._follow_ranges()  # before setData: no auto-range pass over the new points
        if self._steps_dirty:
            self.step_curve.setData(self._step_x, self._step_y)
            self.smooth_curve.setData(self._step_x, self._smooth_y)
        if self._epochs_dirty:
            self.train_loss_curve.setData(self._epoch_x, self._train_loss)
            self.val_loss_curve.setData(self._val_loss_x, self._val_loss)
            self.train_acc_curve.setData(self._epoch_x, self._train_acc)
            self.val_acc_curve.setData(self._val_acc_x, self._val_acc)
        self._steps_dirty = self._epochs_dirty = False
        self.redraw_count += 1
