"""Fixing a dataset from any view: Move to class ▸ / Remove / Keep, Undo / Redo, all through the journal.

`FixActions` is what the Dataset tab, the dataset check and the Evaluation gallery share: it knows the
dataset folder (a callable, since the open folder changes), applies changes with the engine's `Journal`
(a few file renames: quick enough for the GUI thread) and says so with `changed`. Views call `menu()` for
a context menu and add `undo_action` / `redo_action` (Ctrl+Z / Ctrl+Shift+Z) to themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QInputDialog, QMenu, QPushButton, QToolButton, QWidget

from resnet_gui.engine.errors import EngineError


class FixActions(QObject):
    """Journaled fixes on the dataset folder that `root()` names (None: nothing open)."""

    changed = Signal(object)  # the engine's Change (or the list undo/redo returned)
    error = Signal(str)

    def __init__(self, root: Callable[[], str | None], parent: QObject | None = None):
        super().__init__(parent)
        self._root = root
        self.undo_action = QAction("Undo", self)
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.undo_action.triggered.connect(lambda _checked=False: self.undo())
        self.redo_action = QAction("Redo", self)
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence.StandardKey.Redo])
        self.redo_action.triggered.connect(lambda _checked=False: self.redo())
        for a in (self.undo_action, self.redo_action):
            a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.refresh()

    def root(self) -> str | None:
        return self._root()

    def journal(self):
        from resnet_gui.engine.data.doctor.journal import Journal

        root = self.root()
        return None if root is None else Journal(root)

    def install(self, widget: QWidget) -> None:
        """Ctrl+Z / Ctrl+Shift+Z work while focus is anywhere in `widget`."""
        widget.addAction(self.undo_action)
        widget.addAction(self.redo_action)

    # --- the changes --------------------------------------------------------------------------------
    def _do(self, fn: Callable[..., object], *args: object) -> object | None:
        try:
            j = self.journal()
            if j is None:
                return None
            result = fn(j, *args)
        except (EngineError, OSError) as exc:
            self.error.emit(str(exc))
            return None
        self.refresh()
        if result:
            self.changed.emit(result)
        return result

    def relabel(self, paths: Sequence[str], to_class: str):
        return self._do(lambda j, p, c: j.relabel(p, c), list(paths), to_class)

    def remove(self, paths: Sequence[str]):
        return self._do(lambda j, p: j.remove(p), list(paths))

    def keep(self, paths: Sequence[str]):
        return self._do(lambda j, p: j.keep(p), list(paths))

    def add_copies(self, paths: Sequence[str], to_class: str):
        return self._do(lambda j, p, c: j.add_copies(p, c), list(paths), to_class)

    def undo(self, steps: int = 1):
        return self._do(lambda j, n: j.undo(n), steps)

    def redo(self, steps: int = 1):
        return self._do(lambda j, n: j.redo(n), steps)

    def refresh(self) -> None:
        """Undo / Redo enabled, and named after what they would do."""
        try:
            j = self.journal()
            history, todo = (j.history(), j.redoable()) if j is not None else ([], [])
        except (EngineError, OSError):
            history, todo = [], []
        self.undo_action.setEnabled(bool(history))
        self.redo_action.setEnabled(bool(todo))
        self.undo_action.setText(f"Undo {history[-1].describe()}" if history else "Undo")
        self.redo_action.setText(f"Redo {todo[0].describe()}" if todo else "Redo")

    # --- menus --------------------------------------------------------------------------------------
    def move_menu(
        self,
        paths: Callable[[], list[str]],
        classes: Sequence[str],
        parent: QWidget,
        on_class: Callable[[str], object] | None = None,
    ) -> QMenu:
        """ "Move to class ▸": one entry per class and "New class…"; `paths()` is asked when chosen.
        `on_class(name)` replaces the relabel (Classify's "Wrong, it is ▸")."""
        chosen = on_class or (lambda c: self.relabel(paths(), c))
        menu = QMenu("Move to class", parent)
        for c in classes:
            menu.addAction(c, lambda c=c: chosen(c))
        menu.addSeparator()
        menu.addAction("New class…", lambda: self._new_class(chosen, parent))
        return menu

    @staticmethod
    def _new_class(chosen: Callable[[str], object], parent: QWidget) -> None:
        name, ok = QInputDialog.getText(parent, "New class", "Name of the new class folder:")
        if ok and name.strip():
            chosen(name.strip())

    def add_to_dialog(self, dialog: QWidget, path: str, classes: Sequence[str]) -> None:
        """Move to class ▸ / Remove / Keep buttons in the image viewer; a change closes it."""
        row = QHBoxLayout()
        move = QToolButton()
        move.setText("Move to class ▸")
        move.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        move.setMenu(self.move_menu(lambda: [path], classes, dialog))
        row.addWidget(move)
        for text, fn in (("Remove", self.remove), ("Keep", self.keep)):
            b = QPushButton(text)
            b.clicked.connect(lambda _checked=False, fn=fn: fn([path]))
            row.addWidget(b)
        row.addStretch(1)
        layout = dialog.layout()
        layout.insertLayout(max(0, layout.count() - 1), row)  # above the Close button
        self.changed.connect(dialog.close)  # a slot of the dialog: Qt drops the connection with it

    def menu(self, paths: list[str], classes: Sequence[str], parent: QWidget) -> QMenu:
        """The context menu for the selected images."""
        menu = QMenu(parent)
        n = len(paths)
        what = f"{n} image{'s' if n != 1 else ''}"
        move = self.move_menu(lambda: paths, classes, menu)
        move.setTitle(f"Move {what} to class")
        move.setEnabled(bool(paths))
        menu.addMenu(move)
        remove = menu.addAction(f"Remove {what} (into the dataset's trash)", lambda: self.remove(paths))
        keep = menu.addAction(f"Keep {what} as labelled", lambda: self.keep(paths))
        remove.setEnabled(bool(paths))
        keep.setEnabled(bool(paths))
        menu.addSeparator()
        menu.addAction(self.undo_action)
        menu.addAction(self.redo_action)
        return menu
