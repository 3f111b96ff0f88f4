"""The Evaluation panel's pieces: the image gallery's model over evaluation records, its cell delegate,
and the per-class table's number cells."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSize, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem, QTableWidgetItem, QWidget

from resnet_gui.format import fmt_pct
from resnet_gui.ui.dataset.widgets import ThumbnailModel
from resnet_gui.ui.workers import ImageLoader

WRONG_TEXT = QColor("#b3261e")


class NumberItem(QTableWidgetItem):
    """A table cell that shows `text` and sorts by `value`."""

    def __init__(self, value: float, text: str):
        super().__init__(text)
        self.value = value
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        if isinstance(other, NumberItem):
            return self.value < other.value
        return super().__lt__(other)


class CellDelegate(QStyledItemDelegate):
    """Every item fills its grid cell, so captions elide at the cell's width, not the icon's."""

    def __init__(self, size: QSize, parent: QWidget | None = None):
        super().__init__(parent)
        self._size = size

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:  # noqa: N802
        return self._size


class GalleryModel(ThumbnailModel):
    """The thumbnail model over evaluation records: rows are record indices in the order shown."""

    RecordRole = Qt.ItemDataRole.UserRole + 10

    def __init__(self, loader: ImageLoader, parent: QWidget | None = None):
        super().__init__(loader, parent)
        self.records: list[dict] = []

    def set_records(self, records: list[dict], classes: list[str]) -> None:
        self.records = records
        self.set_data([(r["path"], i, "") for i, r in enumerate(records)], classes)

    def show_rows(self, indices: list[int]) -> None:
        """Show these records, in this order (thumbnails already loaded stay cached)."""
        self.beginResetModel()
        self._loader.cancel_all()
        self._asked.clear()
        entries = self._entries  # (path, record index, "") tuples, built once in set_records
        self._rows = [entries[i] for i in indices]
        self.endResetModel()

    def record(self, row: int) -> dict:
        return self.records[self._rows[row][1]]

    def listed(self) -> list[dict]:
        return [self.records[i] for _, i, _ in self._rows]

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        rec = self.record(index.row())
        wrong = rec["true"] != rec["pred"]
        if role == Qt.ItemDataRole.DisplayRole:
            head = f"{rec['true']} → {rec['pred']}" if wrong else f"✓ {rec['true']}"
            return f"{head}\n{fmt_pct(rec['prob']).strip()} · loss {rec['loss']:.2f}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return (
                f"{rec['path']}\ntrue: {rec['true']} · predicted: {rec['pred']} "
                f"({fmt_pct(rec['prob']).strip()})\nprobability of the true class: "
                f"{fmt_pct(rec['true_prob']).strip()} · loss {rec['loss']:.3f}\ndouble-click to open in Classify"
            )
        if role == Qt.ItemDataRole.ForegroundRole:
            return QBrush(WRONG_TEXT) if wrong else None
        if role == self.RecordRole:
            return rec
        return super().data(index, role)
