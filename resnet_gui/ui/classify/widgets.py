"""Widgets of the Classify tab: the results table model, top-k bars, the picture, the drop zone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QImage,
    QPixmap,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QProgressBar,
    QSizePolicy,
    QWidget,
)

from resnet_gui.ui.common import HeadedTableModel, fmt_pct

THUMB = 48  # table thumbnails, px
PASTED = "Pasted image"


@dataclass
class Row:
    """One classified input: what the table and the detail panel show."""

    name: str
    path: str | None  # None for a pasted image
    prediction: Any  # engine.predict.Prediction
    thumb: QImage | None
    image: QImage | None = None  # kept only for pasted images (no file to reload from)


class ResultsModel(HeadedTableModel):
    """Table rows: thumbnail, file, predicted class, confidence, ms."""

    HEADERS = ("", "File", "Predicted", "Confidence", "Time (ms)")
    SortRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.rows: list[Row] = []

    def clear(self) -> None:
        self.beginResetModel()
        self.rows = []
        self.endResetModel()

    def append(self, row: Row) -> None:
        n = len(self.rows)
        self.beginInsertRows(QModelIndex(), n, n)
        self.rows.append(row)
        self.endInsertRows()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.rows)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        p, col = row.prediction, index.column()
        if role == Qt.ItemDataRole.DecorationRole and col == 0:
            return row.thumb
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 1:
                return row.name
            if col == 2:
                return p.topk[0][0] if p.topk else f"error: {p.error}"
            if col == 3:
                return fmt_pct(p.topk[0][1]) if p.topk else ""
            if col == 4:
                return f"{p.timing_ms['total']:.1f}" if p.timing_ms else ""
        if role == self.SortRole:
            if col in (0, 1):
                return row.name.lower()
            if col == 2:
                return p.topk[0][0] if p.topk else "~"
            if col == 3:
                return p.topk[0][1] if p.topk else -1.0
            if col == 4:
                return p.timing_ms.get("total", -1.0) if p.timing_ms else -1.0
        if role == Qt.ItemDataRole.ForegroundRole and p.error and col == 2:
            return QColor("#b3261e")
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (3, 4):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.path or row.name
        return None


class TopKBars(QWidget):
    """Class names with probability bars, best first."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setColumnStretch(1, 1)
        self._widgets: list[QWidget] = []

    def set_topk(self, topk: list[tuple[str, float]]) -> None:
        for w in self._widgets:
            self._grid.removeWidget(w)
            w.deleteLater()
        self._widgets = []
        for i, (name, prob) in enumerate(topk):
            label = QLabel(f"<b>{name}</b>" if i == 0 else name)
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setValue(round(prob * 1000))
            bar.setFormat(fmt_pct(prob))
            bar.setTextVisible(True)
            bar.setMinimumWidth(120)
            self._grid.addWidget(label, i, 0)
            self._grid.addWidget(bar, i, 1)
            self._widgets += [label, bar]

    def values(self) -> list[tuple[str, int]]:
        """(label text, bar value) pairs, for tests."""
        return [
            (self._widgets[i].text(), self._widgets[i + 1].value())  # type: ignore[attr-defined]
            for i in range(0, len(self._widgets), 2)
        ]


class ImagePreview(QLabel):
    """The selected picture, scaled to fit (small images are enlarged without blurring)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._image: QImage | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(240, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_image(self, image: QImage | None, text: str = "") -> None:
        self._image = image
        if image is None:
            self.setPixmap(QPixmap())
            self.setText(text)
        else:
            self._rescale()

    def has_image(self) -> bool:
        return self._image is not None

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._image is not None:
            self._rescale()

    def _rescale(self) -> None:
        img = self._image
        size = self.size() - QSize(8, 8)
        small = img.width() * 2 <= size.width() and img.height() * 2 <= size.height()
        mode = (
            Qt.TransformationMode.FastTransformation if small else Qt.TransformationMode.SmoothTransformation
        )
        scaled = img.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, mode)
        self.setPixmap(QPixmap.fromImage(scaled))


class DropZone(QLabel):
    """The big dashed target; a click opens the file dialog."""

    clicked = Signal()

    def __init__(self, text: str, parent: QWidget | None = None):
        super().__init__(text, parent)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def mouseReleaseEvent(self, event: Any) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
