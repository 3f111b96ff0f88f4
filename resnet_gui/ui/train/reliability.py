"""The Evaluation tab's calibration part: the summary's "calibration error before -> after" text, and a
**Reliability…** button opening the reliability diagram (per confidence bin, the share of right answers
against the confidence the model gave, before and after the stored temperature; the diagonal is a perfectly
calibrated model). The figures come from `engine/evaluate.py` (`EvalResult.calibration`)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QLabel, QPushButton, QVBoxLayout, QWidget

BEFORE, AFTER = "#d62728", "#1f77b4"


def calibration_text(cal: dict | None) -> str:
    """The summary's calibration part (engine/infer/trust.py): the error before and after the temperature."""
    if not cal:
        return ""
    return (
        f" · calibration error {100 * cal['ece_before']:.1f}% → {100 * cal['ece_after']:.1f}% "
        f"(temperature {cal['temperature']:.2f})"
    )


def diagram_points(bins: list[dict]) -> tuple[list[float], list[float], list[int]]:
    """(mean confidence, accuracy, count) of the bins that hold images, in percent."""
    rows = [b for b in bins if b.get("count")]
    return (
        [100 * b["confidence"] for b in rows],
        [100 * b["accuracy"] for b in rows],
        [int(b["count"]) for b in rows],
    )


class ReliabilityDialog(QDialog):
    """Accuracy against confidence per bin, before and after temperature scaling."""

    def __init__(self, cal: dict, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Calibration: reliability diagram")
        self.resize(520, 460)
        layout = QVBoxLayout(self)
        self.plot = pg.PlotWidget(background="w")
        item = self.plot.getPlotItem()
        item.setLabel("bottom", "confidence shown (%)")
        item.setLabel("left", "right answers (%)")
        item.setRange(xRange=(0, 100), yRange=(0, 100), padding=0.02)
        item.showGrid(x=True, y=True, alpha=0.2)
        # bottom right: our models (label smoothing) come out under-confident, their points above the line
        item.addLegend(offset=(-10, -10), labelTextColor="#222")
        self.plot.plot([0, 100], [0, 100], pen=pg.mkPen("#888", style=Qt.PenStyle.DashLine), name="ideal")
        self.curves = {}
        for key, colour, name in (
            ("reliability_before", BEFORE, "before (softmax)"),
            ("reliability_after", AFTER, f"after (temperature {cal['temperature']:.2f})"),
        ):
            x, y, _n = diagram_points(cal.get(key) or [])
            self.curves[key] = self.plot.plot(
                x, y, pen=pg.mkPen(colour, width=2), symbol="o", symbolBrush=colour, symbolSize=7, name=name
            )
        layout.addWidget(self.plot, 1)
        note = QLabel(
            f"Expected calibration error: {100 * cal['ece_before']:.1f}% before, "
            f"{100 * cal['ece_after']:.1f}% after (15 bins; each point is a bin's mean). "
            "Points on the dashed line: a shown 80% is right 80% of the time."
        )
        note.setWordWrap(True)
        layout.addWidget(note)


class ReliabilityButton(QPushButton):
    """Hidden unless the evaluated model carries a calibration with its bins."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Reliability…", parent)
        self.setToolTip("The reliability diagram: how often the shown confidence is right, before and after")
        self.calibration: dict | None = None
        self.dialog: ReliabilityDialog | None = None
        self.clicked.connect(self.open_dialog)
        self.hide()

    def set_calibration(self, cal: dict | None) -> None:
        self.calibration = cal if cal and cal.get("reliability_after") else None
        self.setVisible(self.calibration is not None)

    def open_dialog(self) -> None:
        if self.calibration is None:
            return
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = ReliabilityDialog(self.calibration, self.window())
        self.dialog.show()
