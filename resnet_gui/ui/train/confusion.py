"""The confusion matrix as a clickable heatmap (rows = true class, columns = predicted).

Painted by hand (a few dozen rectangles): colour is the share of the row, blue on the diagonal (right),
red off it (wrong), so the errors stand out whatever the class sizes. Clicking a cell selects it and
emits `cell_clicked(true, pred)`; clicking it again clears the selection and emits `cleared`.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QResizeEvent,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

RIGHT, WRONG = QColor("#1f77b4"), QColor("#d62728")
MIN_CELL, MAX_CELL = 4, 56  # below a line of text, only every k-th class is named
MIN_NUMBER_PX = 8  # counts are written in the cells down to this font size


def _mix(base: QColor, color: QColor, t: float) -> QColor:
    t = max(0.0, min(1.0, t))
    return QColor(
        round(base.red() + (color.red() - base.red()) * t),
        round(base.green() + (color.green() - base.green()) * t),
        round(base.blue() + (color.blue() - base.blue()) * t),
    )


class ConfusionMatrixView(QWidget):
    """Heatmap of a square count matrix with class names along both axes."""

    cell_clicked = Signal(int, int)  # true, predicted
    cleared = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.classes: list[str] = []
        self.matrix: list[list[int]] = []
        self.selected: tuple[int, int] | None = None
        self._margin_cache: tuple[int, int, int] | None = None  # measuring 100 names per cell is slow
        self._pixmap: QPixmap | None = None
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(150, 150)

    def set_data(self, classes: list[str], matrix: list[list[int]]) -> None:
        self.classes, self.matrix = list(classes), [list(row) for row in matrix]
        self.selected = None
        self._margin_cache = None
        self._pixmap = None
        self.updateGeometry()
        self.update()

    def set_selected(self, cell: tuple[int, int] | None) -> None:
        """Highlight a cell (or none) without emitting anything."""
        self.selected = cell
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802
        n = max(1, len(self.classes))
        left, top = self._margins()
        cell = max(MIN_CELL, min(40, 280 // n))
        return QSize(left + n * cell + 8, top + n * cell + 8)

    # --- geometry ---------------------------------------------------------------------------------
    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.PaletteChange):
            self._margin_cache = None
            self._pixmap = None
        super().changeEvent(event)

    def _measure(self) -> tuple[int, int, int]:
        """(left margin, top margin, room for a row name), measured once per data or font change."""
        if self._margin_cache is None:
            fm = QFontMetrics(self.font())
            name_w = max([fm.horizontalAdvance(c) for c in self.classes] + [30])
            name_room = min(120, name_w + 10)
            left = name_room + fm.height() + 4  # row names + the rotated "true class" title
            top = min(90, name_w + 10) + fm.height() + 4  # column names (rotated) + "predicted class"
            self._margin_cache = (left, top, name_room)
        return self._margin_cache

    def _margins(self) -> tuple[int, int]:
        left, top, _ = self._measure()
        return left, top

    def _cell(self) -> float:
        n = max(1, len(self.classes))
        left, top = self._margins()
        return max(MIN_CELL, min(MAX_CELL, (self.width() - left - 4) / n, (self.height() - top - 4) / n))

    def number_font(self, cell: float | None = None) -> QFont | None:
        """The font the counts are written in: the widget's, made smaller (down to MIN_NUMBER_PX) until
        the largest count fits a cell; None when even that does not fit (then the tooltip tells)."""
        c = self._cell() if cell is None else cell
        widest = str(max((max(row) for row in self.matrix if row), default=0))
        font = QFont(self.font())
        px = min(QFontMetrics(font).height(), int(c) - 3)
        while px >= MIN_NUMBER_PX:
            font.setPixelSize(px)
            fm = QFontMetrics(font)
            if fm.horizontalAdvance(widest) <= c - 2 and fm.ascent() <= c - 2:  # digits: no descenders
                return font
            px -= 1
        return None

    def cell_rect(self, true: int, pred: int) -> QRectF:
        """Where a cell is drawn (widget coordinates)."""
        left, top = self._margins()
        c = self._cell()
        return QRectF(left + pred * c, top + true * c, c, c)

    def cell_at(self, pos: QPointF) -> tuple[int, int] | None:
        left, top = self._margins()
        c = self._cell()
        n = len(self.classes)
        col, row = int((pos.x() - left) // c), int((pos.y() - top) // c)
        if pos.x() < left or pos.y() < top or not (0 <= row < n and 0 <= col < n):
            return None
        return row, col

    # --- mouse ------------------------------------------------------------------------------------
    def cell_tip(self, t: int, p: int) -> str:
        """The hover text of a cell: "2 of 3 'cat' images predicted as 'dog' (67%)"."""
        count = self.matrix[t][p]
        total = sum(self.matrix[t])
        share = f" ({100 * count / total:.0f}%)" if total else ""
        true, pred = self.classes[t], self.classes[p]
        what = "predicted correctly" if t == p else f"predicted as '{pred}'"
        noun = "image" if total == 1 else "images"
        return f"{count} of {total} '{true}' {noun} {what}{share}"

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        cell = self.cell_at(event.position())
        if cell is None:
            QToolTip.hideText()
            return
        hint = "click to list them" if self.matrix[cell[0]][cell[1]] else "no images here"
        QToolTip.showText(event.globalPosition().toPoint(), f"{self.cell_tip(*cell)}<br><i>{hint}</i>", self)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() != Qt.MouseButton.LeftButton:
            return
        cell = self.cell_at(event.position())
        if cell is None:
            return
        if cell == self.selected:
            self.set_selected(None)
            self.cleared.emit()
        else:
            self.set_selected(cell)
            self.cell_clicked.emit(*cell)

    # --- painting ---------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        if not self.classes:
            return
        ratio = self.devicePixelRatioF()
        if self._pixmap is None or self._pixmap.size() != self.size() * ratio:
            # cells, labels and titles only change with the data or the size: a 100-class matrix is
            # 10,000 cells, far too many to paint again for every selection change
            self._pixmap = QPixmap(self.size() * ratio)
            self._pixmap.setDevicePixelRatio(ratio)
            self._pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(self._pixmap)
            self._render(painter)
            painter.end()
        p = QPainter(self)
        p.drawPixmap(0, 0, self._pixmap)
        if self.selected is not None:
            p.setPen(QPen(self.palette().color(self.palette().ColorRole.Highlight), 3))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(self.cell_rect(*self.selected).adjusted(1.5, 1.5, -1.5, -1.5))
        p.end()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        self._pixmap = None
        super().resizeEvent(event)

    def _render(self, p: QPainter) -> None:
        pal = self.palette()
        base = pal.color(pal.ColorRole.Base)
        text = pal.color(pal.ColorRole.Text)
        fm = QFontMetrics(self.font())
        left, top = self._margins()
        c = self._cell()
        n = len(self.classes)
        name_room = self._measure()[2]

        white = QColor("white")
        number_font = self.number_font(c)
        if number_font is not None:
            p.setFont(number_font)
        shades: dict[tuple[bool, int], QColor] = {}  # 64 shades per colour: 10,000 cells stay cheap
        for t, row in enumerate(self.matrix):
            total = sum(row) or 1
            y = top + t * c
            for q, count in enumerate(row):
                level = round(63 * (0.12 + 0.88 * count / total)) if count else 0
                color = shades.get((t == q, level))
                if color is None:
                    color = shades[t == q, level] = _mix(base, RIGHT if t == q else WRONG, level / 63)
                r = QRectF(left + q * c, y, c, c)
                p.fillRect(r, color)
                if number_font is not None and count:
                    p.setPen(white if color.lightnessF() < 0.55 else text)
                    p.drawText(r, Qt.AlignmentFlag.AlignCenter, str(count))
        # grid and frame
        p.setPen(QPen(pal.color(pal.ColorRole.Mid), 1))
        for k in range(n + 1):
            p.drawLine(QPointF(left, top + k * c), QPointF(left + n * c, top + k * c))
            p.drawLine(QPointF(left + k * c, top), QPointF(left + k * c, top + n * c))

        p.setRenderHint(QPainter.RenderHint.Antialiasing)  # for the text; cells and grid are axis-aligned
        p.setFont(self.font())
        p.setPen(text)
        title_h = fm.height()
        # row names (true classes), right-aligned against the matrix
        step = max(1, math.ceil(fm.height() / c))  # names must not overlap when cells are small
        for t, name in enumerate(self.classes):
            if t % step:
                continue
            label = fm.elidedText(name, Qt.TextElideMode.ElideRight, name_room - 8)
            p.drawText(
                QRectF(left - name_room, top + (t + 0.5) * c - fm.height() / 2, name_room - 6, fm.height()),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                label,
            )
        # column names (predicted), rotated to read bottom-up
        for q, name in enumerate(self.classes):
            if q % step:
                continue
            label = fm.elidedText(name, Qt.TextElideMode.ElideRight, top - title_h - 10)
            p.save()
            p.translate(left + q * c + c / 2 + fm.ascent() / 2 - 1, top - 6)
            p.rotate(-90)
            p.drawText(QPointF(0, 0), label)
            p.restore()
        # axis titles
        bold = p.font()
        bold.setBold(True)
        p.setFont(bold)
        p.drawText(
            QRect(int(left), 0, int(n * c), title_h + 2), Qt.AlignmentFlag.AlignCenter, "predicted class"
        )
        p.save()
        p.translate(title_h, top + n * c / 2)
        p.rotate(-90)
        p.drawText(
            QRectF(-n * c / 2, -title_h, n * c, title_h + 2), Qt.AlignmentFlag.AlignCenter, "true class"
        )
        p.restore()
