"""Widgets of the Dataset tab: the virtual thumbnail model, the class bar chart, the image dialog."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QColor, QFontMetrics, QImage, QMouseEvent, QPainter, QPaintEvent, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListView,
    QVBoxLayout,
    QWidget,
)

from resnet_gui.ui.workers import ImageLoader

THUMB = 96  # grid thumbnails, px
CACHE_SIZE = 2000  # thumbnails kept (about 27 kB each)
TRAIN_COLOR, VAL_COLOR = QColor("#1f77b4"), QColor("#ff7f0e")


def thumbnail_grid(grid: QSize) -> QListView:
    """A virtual grid of THUMB-px thumbnails, laid out in batches: stays smooth with 100k items."""
    view = QListView()
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setMovement(QListView.Movement.Static)
    view.setResizeMode(QListView.ResizeMode.Adjust)
    view.setUniformItemSizes(True)
    view.setLayoutMode(QListView.LayoutMode.Batched)
    view.setBatchSize(200)
    view.setIconSize(QSize(THUMB, THUMB))
    view.setGridSize(grid)
    view.setSpacing(4)
    view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    return view


class ThumbnailModel(QAbstractListModel):
    """Rows = images of the current filter; decorations come from an LRU cache filled by an ImageLoader."""

    PathRole = Qt.ItemDataRole.UserRole + 1
    ClassRole = Qt.ItemDataRole.UserRole + 2
    SplitRole = Qt.ItemDataRole.UserRole + 3

    def __init__(self, loader: ImageLoader, parent: QWidget | None = None):
        super().__init__(parent)
        self._loader = loader
        self._entries: list[tuple[str, int, str]] = []
        self._rows: list[tuple[str, int, str]] = []
        self._classes: list[str] = []
        self._cache: OrderedDict[str, QImage] = OrderedDict()
        self._broken: dict[str, str] = {}
        self._asked: dict[str, int] = {}  # path -> row it was asked for (visible rows only)
        self._placeholder = self._make_placeholder(QColor("#e3e6ea"))
        self._broken_icon = self._make_placeholder(QColor("#f4c7c3"), "✕")
        loader.loaded.connect(self._on_loaded)
        loader.failed.connect(self._on_failed)

    @staticmethod
    def _make_placeholder(color: QColor, text: str = "") -> QPixmap:
        pm = QPixmap(THUMB, THUMB)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setBrush(color)
        p.setPen(Qt.PenStyle.NoPen)
        p.drawRoundedRect(QRect(4, 4, THUMB - 8, THUMB - 8), 6, 6)
        if text:
            p.setPen(QColor("#b3261e"))
            p.drawText(pm.rect(), Qt.AlignmentFlag.AlignCenter, text)
        p.end()
        return pm

    def set_data(self, entries: list[tuple[str, int, str]], classes: list[str]) -> None:
        self._entries, self._classes = entries, classes
        self._broken.clear()
        self.set_filter(None, None)

    def set_filter(self, label: int | None, split: str | None) -> None:
        self.beginResetModel()
        self._loader.cancel_all()
        self._asked.clear()
        self._rows = [
            e for e in self._entries if (label is None or e[1] == label) and (split is None or e[2] == split)
        ]
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        path, label, split = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return Path(path).name
        if role == Qt.ItemDataRole.DecorationRole:
            img = self._cache.get(path)
            if img is not None:
                self._cache.move_to_end(path)
                return img
            if path in self._broken:
                return self._broken_icon
            self._asked[path] = index.row()
            self._loader.request(path)
            return self._placeholder
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = f"{path}\nclass: {self._classes[label]} · {split}"
            if path in self._broken:
                tip += f"\nunreadable: {self._broken[path]}"
            return tip
        if role == self.PathRole:
            return path
        if role == self.ClassRole:
            return self._classes[label]
        if role == self.SplitRole:
            return split
        return None

    def cached_count(self) -> int:
        return len(self._cache)

    @Slot(str, QImage, object)
    def _on_loaded(self, path: str, img: QImage, info: dict) -> None:
        self._cache[path] = img
        self._cache.move_to_end(path)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        self._changed(path)

    @Slot(str, str)
    def _on_failed(self, path: str, reason: str) -> None:
        self._broken[path] = reason
        self._changed(path)

    def _changed(self, path: str) -> None:
        row = self._asked.pop(path, None)
        if row is not None and row < len(self._rows) and self._rows[row][0] == path:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])


class ClassBars(QWidget):
    """A small horizontal bar chart: one row per class, train and val stacked. Click a row to filter."""

    class_clicked = Signal(int)
    ROW = 22

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._rows: list[tuple[str, int, int]] = []
        self.setMouseTracking(True)

    def set_counts(self, rows: list[tuple[str, int, int]]) -> None:
        self._rows = rows
        self.updateGeometry()
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(260, max(1, len(self._rows)) * self.ROW + 4)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(200, self.sizeHint().height())

    def _row_at(self, y: float) -> int:
        return int(y // self.ROW)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        i = self._row_at(event.position().y())
        if 0 <= i < len(self._rows):
            name, tr, va = self._rows[i]
            self.setToolTip(f"{name}: {tr + va} images ({tr} train, {va} val) — click to show them")
        super().mouseMoveEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        i = self._row_at(event.position().y())
        if 0 <= i < len(self._rows):
            self.class_clicked.emit(i)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fm = QFontMetrics(self.font())
        name_w = min(150, max([fm.horizontalAdvance(r[0]) for r in self._rows] + [40]) + 14)
        count_w = fm.horizontalAdvance("000000") + 4
        bar_w = max(20, self.width() - name_w - count_w - 8)
        top = max([tr + va for _, tr, va in self._rows] + [1])
        text_color = self.palette().color(self.foregroundRole())
        for i, (name, tr, va) in enumerate(self._rows):
            y = i * self.ROW
            p.setPen(text_color)
            label = fm.elidedText(name, Qt.TextElideMode.ElideRight, name_w - 8)
            p.drawText(
                QRect(0, y, name_w - 6, self.ROW),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                label,
            )
            w_tr = int(bar_w * tr / top)
            w_va = int(bar_w * va / top)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(TRAIN_COLOR)
            p.drawRect(name_w, y + 4, w_tr, self.ROW - 8)
            p.setBrush(VAL_COLOR)
            p.drawRect(name_w + w_tr, y + 4, w_va, self.ROW - 8)
            p.setPen(text_color)
            p.drawText(
                QRect(name_w + w_tr + w_va + 4, y, count_w, self.ROW),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                str(tr + va),
            )
        p.end()


class ImageDialog(QDialog):
    """One image, large, with its path, pixel size and class."""

    def __init__(
        self, loader: ImageLoader, path: str, class_name: str, split: str, parent: QWidget | None = None
    ):
        super().__init__(parent)
        self.setWindowTitle(Path(path).name)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._path = path
        self.image_label = QLabel("Loading…")
        self.image_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image_label.setMinimumSize(320, 320)
        self.info_label = QLabel(f"<b>{class_name}</b> · {split}<br>{path}")
        self.info_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.info_label.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.image_label, 1)
        layout.addWidget(self.info_label)
        layout.addWidget(buttons)
        self._class_name, self._split = class_name, split
        loader.loaded.connect(self._on_loaded)
        loader.failed.connect(self._on_failed)
        loader.request(path)
        self.resize(720, 720)

    @Slot(str, QImage, object)
    def _on_loaded(self, path: str, img: QImage, info: dict) -> None:
        if path != self._path:
            return
        pm = QPixmap.fromImage(img)
        if pm.width() < 256:  # tiny images (the demo is 64 px): show them big enough to see, pixelated
            pm = pm.scaled(pm.width() * (512 // pm.width()), pm.height() * (512 // pm.width()))
        self.image_label.setPixmap(pm)
        self.info_label.setText(
            f"<b>{self._class_name}</b> · {self._split} · {info['width']} × {info['height']} px<br>{self._path}"
        )

    @Slot(str, str)
    def _on_failed(self, path: str, reason: str) -> None:
        if path == self._path:
            self.image_label.setText(f"Cannot show this image: {reason}")
