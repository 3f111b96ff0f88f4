"""Widgets of the Classify tab: the results table model, top-k bars, the picture, the drop zone, and
the small cache of pictures decoded while classifying."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
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
    QMouseEvent,
    QPixmap,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from resnet_gui.format import fmt_ms, fmt_pct
from resnet_gui.ui.classify.trust import UNKNOWN_COLOUR, table_label
from resnet_gui.ui.common import HeadedTableModel, heading
from resnet_gui.ui.jobs import Picture, Row

THUMB = 48  # table thumbnails, px
PREVIEW_SIDE = 720  # the selected picture is shown from a copy this size at most (so is Grad-CAM)
PICTURE_PIXELS = 24_000_000  # full-size pictures kept for the rows last classified (~70 MB of RGB)


class PictureCache:
    """The pictures a batch decoded (full image + preview), newest kept, by file path, within a pixel
    budget: the rows shown next need no second decode. The newest always stays, however large."""

    def __init__(self, max_pixels: int = PICTURE_PIXELS):
        self.max_pixels = max_pixels
        self._items: OrderedDict[str, Picture] = OrderedDict()
        self._pixels = 0

    def put(self, path: str, picture: Picture) -> None:
        self.pop(path)
        self._items[path] = picture
        self._pixels += picture.size[0] * picture.size[1]
        while self._pixels > self.max_pixels and len(self._items) > 1:
            self.pop(next(iter(self._items)))

    def get(self, path: str | None) -> Picture | None:
        picture = self._items.get(path) if path else None
        if picture is not None:
            self._items.move_to_end(path)
        return picture

    def pop(self, path: str) -> None:
        old = self._items.pop(path, None)
        if old is not None:
            self._pixels -= old.size[0] * old.size[1]

    def clear(self) -> None:
        self._items.clear()
        self._pixels = 0

    def __len__(self) -> int:
        return len(self._items)


class ResultsModel(HeadedTableModel):
    """Table rows: thumbnail, file, predicted class, confidence, ms."""

    HEADERS = ("", "File", "Predicted", "Confidence", "Time (ms)")
    SortRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.rows: list[Row] = []
        self._paths_by_name: dict[str, set[str]] = {}  # two 000.jpg from different folders

    def clear(self) -> None:
        self.beginResetModel()
        self.rows = []
        self._paths_by_name = {}
        self.endResetModel()

    def append(self, row: Row) -> None:
        n = len(self.rows)
        paths = self._paths_by_name.setdefault(row.name, set())
        clash = bool(row.path) and paths and row.path not in paths and len(paths) == 1
        if row.path:
            paths.add(row.path)
        self.beginInsertRows(QModelIndex(), n, n)
        self.rows.append(row)
        self.endInsertRows()
        if clash:  # the first row of that name now needs its folder too
            self.dataChanged.emit(self.index(0, 1), self.index(n, 1))

    def display_name(self, row: Row) -> str:
        """The file name, with its folder when another listed file has the same name."""
        if row.path and len(self._paths_by_name.get(row.name, ())) > 1:
            return f"{Path(row.path).parent.name}/{row.name}"
        return row.name

    def refresh(self) -> None:
        """Every row drawn again (their verdicts changed: the strictness moved)."""
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, len(self.HEADERS) - 1))

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
                return self.display_name(row)
            if col == 2:
                return table_label(p) if p.topk else f"error: {p.error}"
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
        if role == Qt.ItemDataRole.ForegroundRole and p.unknown and col == 2:
            return QColor(UNKNOWN_COLOUR)
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
            w.hide()  # not drawn again while its deletion waits for the event loop
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
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setObjectName("DropZone")
        self.setStyleSheet(
            "#DropZone { border: 2px dashed palette(mid); border-radius: 12px; color: palette(text); }"
        )
        self.setMinimumHeight(240)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()


def empty_page(go_train: Signal, open_checkpoint: Signal) -> QWidget:
    """What the tab shows before any model is loaded: how to get one, and two buttons to do it."""
    empty = QWidget()
    ev = QVBoxLayout(empty)
    ev.addStretch(1)
    title = heading("No model loaded yet", 1.5)
    title.setAlignment(Qt.AlignmentFlag.AlignCenter)
    body = QLabel(
        "To classify images you need a trained model.<br><br>"
        "<b>Train one</b> on the Train tab (it takes about a minute on the demo data), then press "
        "<i>Use in Classify</i>;<br>or <b>open a checkpoint</b> file (.safetensors, .pt, .pth) — "
        "or drop it on this window.<br><br>"
        "Or classify everyday photos right away with an <b>ImageNet</b> model (1,000 categories: "
        "animals, objects, food…) from the <i>ImageNet (1,000 classes)</i> menu above."
    )
    body.setAlignment(Qt.AlignmentFlag.AlignCenter)
    body.setWordWrap(True)
    go = QPushButton("Go to the Train tab")
    go.clicked.connect(go_train)
    op = QPushButton("Open Checkpoint…")
    op.clicked.connect(open_checkpoint)
    buttons = QHBoxLayout()
    buttons.addStretch(1)
    buttons.addWidget(go)
    buttons.addWidget(op)
    buttons.addStretch(1)
    ev.addWidget(title)
    ev.addWidget(body)
    ev.addLayout(buttons)
    ev.addStretch(2)
    return empty


def model_summary(info: dict[str, Any]) -> str:
    """The line about the loaded model (`Predictor.info()`): architecture, classes, accuracy, date, file."""
    classes = info["classes"]
    shown = ", ".join(classes[:6]) + (f", … ({len(classes)} in all)" if len(classes) > 6 else "")
    created = info.get("created") or ""
    with contextlib.suppress(ValueError):  # show what is there if it is not ISO-8601
        created = datetime.fromisoformat(created).strftime("%Y-%m-%d %H:%M")
    acc = info.get("val_acc")
    parts = [
        f"<b>Model:</b> {info['arch']} · {info['img_size']} px",
        f"<b>{len(classes)} classes:</b> {shown}",
    ]
    if acc is not None:
        parts.append(f"<b>val accuracy</b> {fmt_pct(acc)}")
    if created:
        parts.append(f"trained {created}")
    return " · ".join(parts) + f"<br><small>{info['checkpoint']}</small>"


#: The timing's tooltip: what the figures are, and why they can differ from the status bar and each other.
TIMING_TIP = (
    "Time for this image: reading and decoding the file, preprocessing, and the forward pass. "
    "The figure under the table is the mean over the listed images.\n"
    "On the CPU each image runs on the cores other programs leave free, so it may use fewer threads "
    "than the status bar's count (the most it may use)."
)


def device_short(device: str) -> str:
    """ "CPU, 2 threads" -> "CPU": the thread count changes per image (TIMING_TIP); GPU names unchanged."""
    return device.split(",")[0] if device.startswith("CPU") else device


def timing_html(timing_ms: dict[str, float], device: str) -> str:
    """The total and its parts (load, preprocess, forward) as a small table."""
    rows = "".join(
        f"<tr><td>{name}</td><td align='right'>&nbsp;&nbsp;{fmt_ms(timing_ms.get(key))}</td></tr>"
        for name, key in (
            ("load (read + decode)", "load"),
            ("preprocess", "preprocess"),
            ("forward pass", "forward"),
        )
    )
    return f"<b>{fmt_ms(timing_ms.get('total'))}</b> on {device_short(device)}<table style='margin-top:4px'>{rows}</table>"


def count_text(rows: Sequence[Row], expected: int) -> str:
    """ "12 images (1 failed) · 4.2 ms per image on average · 3 to go…"."""
    ok = [r for r in rows if r.prediction.error is None]
    text = f"{len(rows)} image{'s' if len(rows) != 1 else ''}"
    if len(ok) != len(rows):
        text += f" ({len(rows) - len(ok)} failed)"
    if ok:
        mean = sum(r.prediction.timing_ms["total"] for r in ok) / len(ok)
        text += f" · {mean:.1f} ms per image on average"
    if expected > len(rows):
        text += f" · {expected - len(rows)} to go…"
    return text
