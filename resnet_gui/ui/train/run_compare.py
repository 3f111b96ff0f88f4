"""The "Compare with…" control: overlay a previous run's loss and accuracy curves on the Train tab's plots.

Runs come from `engine.runs.list_runs(runs_dir)` (each run's run.json), read when the list is opened, so
nothing is scanned at start-up; a run stopped before its first epoch is listed too, greyed out (its
folder is kept, it has no curves). The chosen run's epoch curves are drawn dashed in purple in the same
plots as the live ones, with their own legend entries.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from resnet_gui.ui.train.plots import LEGEND_COLUMNS, TrainingPlots, epoch_curve

if TYPE_CHECKING:
    from resnet_gui.engine.runs import RunInfo

COMPARE_COLOR = "#9467bd"


def runs_without_epochs(runs_dir: Path) -> list[RunInfo]:
    """Runs in `runs_dir` that were stopped (or failed) before an epoch completed: `list_runs` leaves
    them out (no history), yet their folders are on disk."""
    from resnet_gui.engine.runs import load_run

    if not runs_dir.is_dir():
        return []
    out = []
    for folder in sorted(runs_dir.iterdir(), reverse=True):
        if folder.is_dir() and not folder.name.startswith("."):
            run = load_run(folder)
            if run is not None and not run.history and run.status in ("stopped", "failed"):
                out.append(run)
    return out


class _RunCombo(QComboBox):
    about_to_show = Signal()

    def showPopup(self) -> None:  # noqa: N802
        self.about_to_show.emit()
        super().showPopup()


class ComparisonOverlay:
    """Four extra curves (train/val loss, train/val accuracy) of one previous run on TrainingPlots."""

    def __init__(self, plots: TrainingPlots):
        self.plots = plots
        self.curves: list[pg.PlotDataItem] = []
        self._owners: list[pg.PlotItem] = []

    def clear(self) -> None:
        for item, curve in zip(self._owners, self.curves, strict=True):
            if item.legend is not None:
                item.legend.removeItem(curve)
            item.removeItem(curve)
        self.curves, self._owners = [], []
        self._legend_columns(LEGEND_COLUMNS)

    def _legend_columns(self, n: int) -> None:
        for widget in (self.plots.loss_plot, self.plots.acc_plot):
            legend = widget.getPlotItem().legend
            if legend is not None:
                legend.setColumnCount(n)

    def set_history(self, history: list[dict]) -> None:
        self.clear()
        epochs = [row["epoch"] for row in history]

        def series(key: str, scale: float = 1.0) -> tuple[list[float], list[float]]:
            pts = [
                (e, scale * row[key])
                for e, row in zip(epochs, history, strict=True)
                if row.get(key) is not None
            ]
            return [p[0] for p in pts], [p[1] for p in pts]

        specs = (
            (self.plots.loss_plot, "train_loss", 1.0, Qt.PenStyle.DashLine, "other: train"),
            (self.plots.loss_plot, "val_loss", 1.0, Qt.PenStyle.DotLine, "other: val"),
            (self.plots.acc_plot, "train_acc", 100.0, Qt.PenStyle.DashLine, "other: train"),
            (self.plots.acc_plot, "val_acc", 100.0, Qt.PenStyle.DotLine, "other: val"),
        )
        for widget, key, scale, style, label in specs:
            x, y = series(key, scale)
            curve = epoch_curve(widget, COMPARE_COLOR, label, style=style, symbol="t", size=6)
            curve.setData(x, y)
            curve.setZValue(-1)  # behind the live run
            self.curves.append(curve)
            self._owners.append(widget.getPlotItem())
        self._legend_columns(LEGEND_COLUMNS)  # under the plot: a second row for the other run

    def point_counts(self) -> list[int]:
        """Points per overlay curve (train loss, val loss, train acc, val acc); [] when none is shown."""
        out = []
        for curve in self.curves:
            x, _ = curve.getOriginalDataset()
            out.append(0 if x is None else len(x))
        return out


class RunCompareBar(QWidget):
    """A "Compare with" combo box listing previous runs; choosing one overlays its curves."""

    def __init__(self, plots: TrainingPlots, runs_dir: str | Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.runs_dir = Path(runs_dir)
        self.current_run: str | None = None  # the run the plots show now: not offered
        self.runs: dict[str, RunInfo] = {}
        self.overlay = ComparisonOverlay(plots)
        self.combo = _RunCombo()
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(28)
        self.combo.setToolTip(f"Overlay the curves of a previous run (from {self.runs_dir}), dashed")
        self.combo.about_to_show.connect(self.refresh)
        self.combo.currentIndexChanged.connect(self._on_chosen)
        self.combo.addItem("nothing", None)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Compare with"))
        layout.addWidget(self.combo)

    def refresh(self) -> None:
        """Re-read the runs folder; keeps the current choice when it is still there."""
        from resnet_gui.engine.runs import list_runs

        chosen = self.combo.currentData()
        runs = [r for r in list_runs(self.runs_dir) if r.path != self.current_run]
        self.runs = {r.path: r for r in runs}
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItem("nothing", None)
        for r in runs:
            self.combo.addItem(r.label(), r.path)
            self.combo.setItemData(self.combo.count() - 1, r.path, Qt.ItemDataRole.ToolTipRole)
        for r in runs_without_epochs(self.runs_dir):  # listed, not offered: they have no curves
            self.combo.addItem(f"{r.name} · {r.status} before its first epoch (no curves)", None)
            k = self.combo.count() - 1
            self.combo.setItemData(
                k, f"{r.path}: kept on disk, nothing to compare", Qt.ItemDataRole.ToolTipRole
            )
            self.combo.model().item(k).setEnabled(False)
        index = self.combo.findData(chosen) if chosen in self.runs else 0
        self.combo.setCurrentIndex(max(0, index))
        self.combo.blockSignals(False)
        if chosen is not None and chosen not in self.runs:
            self.overlay.clear()

    def choose(self, run_path: str | None) -> None:
        """Overlay this run (a folder from the list), or nothing."""
        if run_path is not None and run_path not in self.runs:
            self.refresh()
        self.combo.setCurrentIndex(max(0, self.combo.findData(run_path)) if run_path else 0)

    def _on_chosen(self) -> None:
        run = self.runs.get(self.combo.currentData())
        if run is None:
            self.overlay.clear()
        else:
            self.overlay.set_history(run.history)
