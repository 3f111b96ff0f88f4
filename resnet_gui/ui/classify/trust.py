"""Classify tab: "none of these" and calibrated confidence (engine/infer/trust.py), in words and one row of
settings: the strictness slider, the mirror (TTA) option and what the loaded checkpoint offers.

The strictness is the share of correctly classified validation images the model would call unknown
(0%: never says "none of these"; the checkpoint's default is 5%). Moving it re-judges the results already
in the table from their stored open-set scores; nothing is classified again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSlider, QWidget

if TYPE_CHECKING:
    from resnet_gui.engine.infer.predict import Prediction, Predictor

UNKNOWN_STYLE = "QLabel { background: #fff4e5; color: #7a4100; border: 1px solid #f0a040; border-radius: 4px; padding: 6px; }"
UNKNOWN_COLOUR = "#a15c00"  # the table's "unknown" rows
MAX_STRICTNESS = 20  # percent, on the slider
UNAVAILABLE = (
    "“None of these” unavailable: this checkpoint has no stored threshold (train it again to get one)"
)


def unknown_text(p: Prediction) -> str:
    """The distinct answer for an image the model does not recognise."""
    closest = p.topk[0][0] if p.topk else "?"
    return f"Not like any of the classes it was trained on (closest: {closest})"


def table_label(p: Prediction) -> str:
    """The Predicted column of the results table."""
    return f"unknown (closest: {p.topk[0][0]})" if p.unknown and p.topk else p.topk[0][0]


def rejudge(predictions: list[Prediction], predictor: Predictor) -> int:
    """Apply the predictor's current strictness to predictions made with it (from their stored scores);
    how many changed verdict."""
    thr = predictor.trust.threshold(predictor.rate)
    changed = 0
    for p in predictions:
        if p.ood_score is None or p.error:
            continue
        new = None if thr is None else bool(p.ood_score < thr)
        changed += new != p.unknown
        p.unknown = new
    return changed


class TrustBar(QWidget):
    """Strictness slider, the mirror option and the calibration note for the loaded model."""

    strictness_changed = Signal(float)  # the new rate (0..MAX_STRICTNESS/100)
    tta_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, MAX_STRICTNESS)
        self.slider.setValue(5)
        self.slider.setFixedWidth(140)
        self.slider.setToolTip(
            "How readily the model says “none of these”: the % of correctly classified validation images it "
            "would call unknown. 0 turns it off."
        )
        self.slider.valueChanged.connect(self._on_slider)
        self.value_label = QLabel()
        self.tta = QCheckBox("Mirror too (TTA)")
        self.tta.setToolTip(
            "Average the answers for the image and its mirror image: a little steadier, about twice the "
            "forward time. Applies to the next images classified."
        )
        self.tta.toggled.connect(self.tta_changed)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setEnabled(False)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.caption = QLabel("“None of these” strictness")
        row.addWidget(self.caption)
        row.addWidget(self.slider)
        row.addWidget(self.value_label)
        row.addSpacing(12)
        row.addWidget(self.tta)
        row.addSpacing(12)
        row.addWidget(self.note, 1)
        self.set_predictor(None)

    def set_predictor(self, predictor: Predictor | None) -> None:
        trust = predictor.trust if predictor is not None else None
        available = trust is not None and trust.available
        for w in (self.slider, self.value_label, self.caption):
            w.setEnabled(available)
        self.tta.setEnabled(predictor is not None)
        if predictor is not None:
            self.tta.setChecked(predictor.tta)
        if trust is None:
            self.note.setText("")
        elif not available:
            self.note.setText(UNAVAILABLE + "; probabilities uncalibrated.")
        else:
            rate = trust.rate if predictor.rate is None else predictor.rate
            self.slider.blockSignals(True)
            self.slider.setValue(round(100 * rate))
            self.slider.blockSignals(False)
            self.note.setText(f"{trust.score} score; {calibration_note(trust)}")
        self._show_value()

    def rate(self) -> float:
        return self.slider.value() / 100.0

    def _on_slider(self, _value: int) -> None:
        self._show_value()
        self.strictness_changed.emit(self.rate())

    def _show_value(self) -> None:
        v = self.slider.value()
        self.value_label.setText("off" if v == 0 else f"{v}%")


def calibration_note(trust) -> str:
    """What the Classify view says of the probabilities: calibrated with a temperature, or kept as the model
    gives them when the run's validation split found no better temperature (T = 1)."""
    if not trust.calibrated:
        return "probabilities uncalibrated"
    if trust.temperature == 1.0:
        return (
            f"probabilities as the model gives them (no temperature did better on validation; "
            f"calibration error {100 * trust.ece_before:.1f}%)"
        )
    return (
        f"probabilities calibrated (temperature {trust.temperature:.2f}, calibration error "
        f"{100 * trust.ece_before:.1f}% → {100 * trust.ece_after:.1f}% on validation)"
    )
