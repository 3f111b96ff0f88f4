"""Runs side by side: their settings and results in a table (differences in bold) and their validation
accuracy and training loss per epoch on two plots (pyqtgraph, one colour per run)."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from resnet_gui.engine.config import arch_label
from resnet_gui.format import fmt_bytes, fmt_duration, fmt_pct

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")

#: (row label, value of a run); the config keys are TrainConfig's
ROWS: tuple[tuple[str, Any], ...] = (
    ("Dataset", lambda r: r.dataset or "--"),
    ("Model", lambda r: arch_label(r.arch) if r.arch else "--"),
    ("Pretrained", lambda r: str(r.config.get("pretrained", "--"))),
    ("Frozen backbone", lambda r: "yes" if r.config.get("freeze_backbone") else "no"),
    ("Epochs", lambda r: str(r.epochs)),
    ("Learning rate", lambda r: "auto" if r.config.get("lr") is None else f"{r.config['lr']:.2g}"),
    ("Batch size", lambda r: str(r.config.get("batch_size", "--"))),
    ("Image size", lambda r: f"{r.config.get('img_size', '--')} px"),
    ("Augmentation", lambda r: str(r.config.get("augment", "--"))),
    ("Best val acc", lambda r: fmt_pct(r.best_val_acc)),
    ("Final val acc", lambda r: fmt_pct((r.history[-1] if r.history else {}).get("val_acc"))),
    ("Training time", lambda r: fmt_duration(sum(h.get("epoch_s") or 0 for h in r.history) or None)),
    ("Size on disk", lambda r: fmt_bytes(r.size_bytes)),
    ("Status", lambda r: r.status),
)


def comparison_rows(runs: list) -> list[tuple[str, list[str], bool]]:
    """(label, one value per run, whether they differ) for each row of the table."""
    out = []
    for label, value in ROWS:
        values = [value(r) for r in runs]
        out.append((label, values, len(set(values)) > 1))
    return out


class RunsCompareDialog(QDialog):
    """Two or more runs (engine.runs.RunInfo) side by side."""

    def __init__(self, runs: list, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Compare {len(runs)} runs")
        self.resize(980, 560)
        self.runs = list(runs)
        rows = comparison_rows(self.runs)
        self.table = QTableWidget(len(rows), len(self.runs))
        self.table.setHorizontalHeaderLabels([r.name for r in self.runs])
        self.table.setVerticalHeaderLabels([label for label, _v, _d in rows])
        bold = QFont()
        bold.setBold(True)
        for i, (_label, values, differ) in enumerate(rows):
            for j, text in enumerate(values):
                item = QTableWidgetItem(text)
                if differ:
                    item.setFont(bold)
                self.table.setItem(i, j, item)
        for j in range(len(self.runs)):
            header = self.table.horizontalHeaderItem(j)
            header.setForeground(pg.mkColor(COLOURS[j % len(COLOURS)]))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)

        self.acc_plot = pg.PlotWidget(title="Validation accuracy")
        self.loss_plot = pg.PlotWidget(title="Training loss")
        self.curves: dict[str, list] = {"acc": [], "loss": []}
        for plot, key in ((self.acc_plot, "acc"), (self.loss_plot, "loss")):
            plot.setBackground("w")
            plot.showGrid(x=True, y=True, alpha=0.3)
            plot.setLabel("bottom", "epoch")
            plot.addLegend(offset=(-10, 10) if key == "loss" else (-10, -10))
        for j, run in enumerate(self.runs):
            pen = pg.mkPen(COLOURS[j % len(COLOURS)], width=2)
            epochs = [h["epoch"] for h in run.history]
            acc = [h.get("val_acc") for h in run.history]
            pts = [(e, a) for e, a in zip(epochs, acc, strict=True) if a is not None]
            self.curves["acc"].append(
                self.acc_plot.plot(
                    [p[0] for p in pts],
                    [p[1] for p in pts],
                    pen=pen,
                    symbol="o",
                    symbolSize=5,
                    symbolBrush=pen.color(),
                    name=run.name,
                )
            )
            loss = [h.get("train_loss") for h in run.history]
            pts = [(e, v) for e, v in zip(epochs, loss, strict=True) if v is not None]
            self.curves["loss"].append(
                self.loss_plot.plot([p[0] for p in pts], [p[1] for p in pts], pen=pen, name=run.name)
            )
        plots = QHBoxLayout()
        plots.addWidget(self.acc_plot)
        plots.addWidget(self.loss_plot)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 2)
        layout.addLayout(plots, 3)
        layout.addWidget(buttons)
