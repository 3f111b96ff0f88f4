"""Small pieces the views share: settings, the message bar, headings, checkpoint file types."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSettings,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QMessageBox,
    QPushButton,
    QSplitter,
    QToolButton,
    QWidget,
)

ORG = "resnet-gui"
APP = "resnet-gui"
CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".pkl")
CHECKPOINT_FILTER = "Checkpoints (*.safetensors *.pt *.pth *.pkl);;All files (*)"
IMAGE_FILTER = "Images (*.jpg *.jpeg *.png *.bmp *.gif *.webp *.tif *.tiff *.ppm *.pgm);;All files (*)"


def default_runs_dir() -> Path:
    """Where the app keeps its runs: the one runs folder the CLI uses too (engine/config.py)."""
    from resnet_gui.engine.config import default_runs_dir as engine_runs_dir

    return engine_runs_dir()


def settings() -> QSettings:
    """The app's settings: an INI file in the user's config folder (tests point it at a temp folder)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORG, APP)


def settings_list(s: QSettings, key: str) -> list[str]:
    """A list of strings from settings (INI stores a one-element list as a plain string)."""
    value = s.value(key, [])
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value]


def is_checkpoint_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in CHECKPOINT_SUFFIXES


def button(text: str, on_click: Callable[[], object], tip: str = "") -> QPushButton:
    """A push button that calls `on_click`, with its tooltip."""
    b = QPushButton(text)
    if tip:
        b.setToolTip(tip)
    b.clicked.connect(lambda _checked=False: on_click())
    return b


def hrow(stretched: QWidget | QLayout, *rest: QWidget) -> QHBoxLayout:
    """A horizontal row: `stretched` takes the spare width, the rest (buttons) keep their size."""
    layout = QHBoxLayout()
    if isinstance(stretched, QLayout):
        layout.addLayout(stretched, 1)
    else:
        layout.addWidget(stretched, 1)
    for w in rest:
        layout.addWidget(w)
    return layout


def side_by_side(left: QWidget, right: QWidget, stretch: tuple[int, int], sizes: list[int]) -> QSplitter:
    """Two panes in a horizontal splitter: stretch factors and starting widths."""
    split = QSplitter()
    split.addWidget(left)
    split.addWidget(right)
    split.setStretchFactor(0, stretch[0])
    split.setStretchFactor(1, stretch[1])
    split.setSizes(sizes)
    return split


def mono_font() -> QFont:
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


def heading(text: str, scale: float = 1.25) -> QLabel:
    label = QLabel(text)
    f = label.font()
    f.setPointSizeF(f.pointSizeF() * scale)
    f.setBold(True)
    label.setFont(f)
    return label


def error_text(exc: BaseException | str) -> str:
    """One readable sentence for an exception (engine errors already are one)."""
    if isinstance(exc, str):
        return exc
    msg = str(exc).strip()
    try:
        from resnet_gui.engine.errors import EngineError
    except ImportError:  # pragma: no cover - the engine is always there in a real install
        EngineError = ()  # noqa: N806
    if isinstance(exc, EngineError) and msg:
        return msg
    name = type(exc).__name__
    return f"{name}: {msg}" if msg else name


class MessageBar(QFrame):
    """A dismissible line at the top of a view or window: errors and notices, never a silent traceback."""

    closed = Signal()
    STYLES = {
        "error": ("#fdecea", "#b3261e", "#8c1d18"),
        "warning": ("#fff4e5", "#b26a00", "#663c00"),
        "info": ("#e8f1fd", "#1a5fb4", "#0b3d91"),
    }

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("MessageBar")
        self._details = ""
        self._label = QLabel()
        self._label.setWordWrap(True)
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._details_button = QPushButton("Details…")
        self._details_button.setFlat(True)
        self._details_button.clicked.connect(self._show_details)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self._label, 1)
        layout.addWidget(self._details_button)
        layout.addWidget(close)
        self.hide()

    def text(self) -> str:
        return self._label.text()

    def show_message(self, text: str, kind: str = "error", details: str = "") -> None:
        bg, border, fg = self.STYLES.get(kind, self.STYLES["info"])
        self.setStyleSheet(
            f"#MessageBar {{ background: {bg}; border: 1px solid {border}; border-radius: 4px; }}"
            f"#MessageBar QLabel {{ color: {fg}; }}"
        )
        self._label.setText(text)
        self._details = details
        self._details_button.setVisible(bool(details))
        self.setProperty("kind", kind)
        self.show()

    def dismiss(self) -> None:
        self.hide()
        self.closed.emit()

    def _show_details(self) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, "Details", self._label.text(), parent=self)
        box.setDetailedText(self._details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()


class HeadedTableModel(QAbstractTableModel):
    """A table model whose columns are the class's HEADERS (subclasses give rowCount and data)."""

    HEADERS: tuple[str, ...] = ()

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None
