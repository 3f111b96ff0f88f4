"""The dataset check in the app: run it on a worker (progress, Cancel), list the findings with their files,
fix them (Move to class ▸ / Remove / Keep, Undo / Redo), then Retrain.

`DoctorPanel` holds it all; `DoctorDialog` shows it beside the Dataset tab; `attach_to_dataset_view` is
the Dataset tab's one hook: the Check dataset… button, a context menu on its grid and Ctrl+Z / Ctrl+Shift+Z.
After every change the Dataset tab rescans, so its header, bars and the Train tab count what is there now.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPoint, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QLabel,
    QProgressBar,
    QPushButton,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from resnet_gui.ui.common import button, error_text, hrow, side_by_side
from resnet_gui.ui.dataset.findings import FindingModel, finding_groups
from resnet_gui.ui.dataset.fixes import FixActions
from resnet_gui.ui.dataset.widgets import THUMB, thumbnail_grid
from resnet_gui.ui.jobs_tools import check_dataset_job
from resnet_gui.ui.state import AppState
from resnet_gui.ui.workers import ImageLoader, LatestJob

if TYPE_CHECKING:
    from resnet_gui.engine.data.doctor.report import DoctorReport

STAGES = {
    "reading": "Reading images",
    "embedding": "Embedding with the checkpoint",
    "cross-validating": "Cross-validating",
}


class DoctorPanel(QWidget):
    """Check the open dataset, show what is wrong, fix it with undo, retrain."""

    retrain_requested = Signal()
    dataset_changed = Signal()  # a fix moved files: the Dataset tab rescans
    check_finished = Signal(object)  # DoctorReport (stopped or not)

    def __init__(self, state: AppState, fixes: FixActions, parent: QWidget | None = None):
        super().__init__(parent)
        self.state, self.fixes = state, fixes
        self.report: DoctorReport | None = None
        self._job = LatestJob(self)
        self.loader = ImageLoader(THUMB, threads=2, upscale=True, parent=self)
        self.model = FindingModel(self.loader, self)

        self.status = QLabel("Not checked yet")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.cancel_button = button("Cancel", self.cancel, "Stop the check (what was found so far stays)")
        self.cancel_button.setVisible(False)
        self.check_button = button("Check again", self.start, "Run the check on the folder as it is now")

        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Finding", "Files"])
        self.tree.setRootIsDecorated(False)
        self.tree.setColumnWidth(0, 220)
        self.tree.currentItemChanged.connect(self._on_finding)
        self.advice = QLabel()
        self.advice.setWordWrap(True)
        self.imbalance = QLabel()
        self.imbalance.setWordWrap(True)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 6, 0)
        lv.addWidget(self.tree, 1)
        lv.addWidget(self.imbalance)

        self.grid = thumbnail_grid(QSize(THUMB + 48, THUMB + 34))
        self.grid.setModel(self.model)
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.grid.customContextMenuRequested.connect(self._context_menu)
        self.grid.selectionModel().selectionChanged.connect(self._update_buttons)
        self.move_button = QToolButton()
        self.move_button.setText("Move to class ▸")
        self.move_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.suggested_button = button(
            "Accept suggestion", self.accept_suggestion, "Move each to its suggested class"
        )
        self.remove_button = button("Remove", lambda: self.fixes.remove(self.selected_paths()))
        self.remove_button.setToolTip(
            "Move into the dataset's .resnet-gui/trash folder (undo brings them back)"
        )
        self.keep_button = button("Keep", lambda: self.fixes.keep(self.selected_paths()))
        self.keep_button.setToolTip("The label is right: do not suggest these again")
        self.undo_button = QPushButton("Undo")
        self.undo_button.clicked.connect(self.fixes.undo_action.trigger)
        self.redo_button = QPushButton("Redo")
        self.redo_button.clicked.connect(self.fixes.redo_action.trigger)
        self.retrain_button = button(
            "Retrain", self.retrain_requested.emit, "Train again with the Train tab's settings"
        )
        actions = hrow(
            QLabel(""),
            self.move_button,
            self.suggested_button,
            self.remove_button,
            self.keep_button,
            self.undo_button,
            self.redo_button,
            self.retrain_button,
        )
        self.changes_label = QLabel()
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(6, 0, 0, 0)
        rv.addWidget(self.advice)
        rv.addWidget(self.grid, 1)
        rv.addLayout(actions)
        rv.addWidget(self.changes_label)

        layout = QVBoxLayout(self)
        layout.addLayout(hrow(self.status, self.progress, self.cancel_button, self.check_button))
        layout.addWidget(side_by_side(left, right, stretch=(0, 1), sizes=[300, 800]), 1)
        fixes.install(self)
        fixes.changed.connect(self._on_changed)
        fixes.undo_action.changed.connect(self._update_buttons)
        self._update_buttons()

    # --- the check ----------------------------------------------------------------------------------
    def start(self, checkpoint: str | None = None) -> None:
        root = self.fixes.root()
        if root is None:
            self.status.setText("Open a dataset folder first")
            return
        self.status.setText(f"Checking {root}…")
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.check_button.setEnabled(False)
        self._job.start(
            check_dataset_job,
            root,
            self.state.val_split,
            checkpoint,
            events=True,
            on_event=self._on_progress,
            on_done=self._on_done,
            on_error=self._on_error,
            on_finished=self._on_finished,
        )

    def cancel(self) -> None:
        self._job.stop()
        self.status.setText("Cancelling…")

    def is_running(self) -> bool:
        return self._job.is_running()

    def _on_progress(self, p: object) -> None:
        stage = getattr(p, "stage", "")
        self.progress.setRange(0, max(1, p.total))
        self.progress.setValue(p.done)
        self.progress.setFormat(f"{STAGES.get(stage, stage)} %v/%m")

    def _on_done(self, report: DoctorReport) -> None:
        self.set_report(report)
        self.check_finished.emit(report)

    def _on_error(self, exc: BaseException) -> None:
        self.status.setText(f"The check failed: {error_text(exc)}")

    def _on_finished(self) -> None:
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.check_button.setEnabled(True)

    def set_report(self, report: DoctorReport) -> None:
        self.report = report
        self._groups = finding_groups(report)
        head = "Stopped early: " if report.stopped else ""
        self.status.setText(
            f"{head}{report.usable:,} usable of {report.num_files:,} images · {len(report.classes)} classes · "
            f"{report.summary_lines()[0]}"
        )
        imb = report.imbalance
        self.imbalance.setText(
            f"<b>Class balance</b>: {imb['advice']}<br>smallest: {', '.join(imb['smallest'])}"
            + (f" · ratio {imb['ratio']:.1f}" if imb.get("ratio") else "")
        )
        self._fill_tree()

    def _fill_tree(self, keep_row: int | None = None) -> None:
        row = self.tree.indexOfTopLevelItem(self.tree.currentItem()) if keep_row is None else keep_row
        self.tree.blockSignals(True)
        self.tree.clear()
        first = None
        for i, (title, _todo, recs) in enumerate(self._groups):
            n = len({r["path"] for r in recs})
            item = QTreeWidgetItem([title, str(n) if n else "none"])
            item.setData(0, Qt.ItemDataRole.UserRole, i)
            if not n:
                item.setForeground(0, self.palette().placeholderText())
            elif first is None:
                first = item
            self.tree.addTopLevelItem(item)
        self.tree.blockSignals(False)
        target = self.tree.topLevelItem(row) if row is not None and row >= 0 else first
        self.tree.setCurrentItem(target or self.tree.topLevelItem(0))
        self._on_finding(self.tree.currentItem())

    def _on_finding(self, item: QTreeWidgetItem | None, _prev: QTreeWidgetItem | None = None) -> None:
        if item is None or self.report is None:
            self.model.set_records([])
            return
        title, todo, recs = self._groups[item.data(0, Qt.ItemDataRole.UserRole)]
        self.advice.setText(f"<b>{title}</b> — {todo}" if recs else f"<b>{title}</b>: none found")
        self.model.set_records(recs)
        self._update_buttons()

    # --- fixing -------------------------------------------------------------------------------------
    def selected_records(self) -> list[dict]:
        rows = sorted({i.row() for i in self.grid.selectionModel().selectedIndexes()})
        return [self.model.records[r] for r in rows if r < len(self.model.records)]

    def selected_paths(self) -> list[str]:
        return list(dict.fromkeys(r["path"] for r in self.selected_records()))

    def accept_suggestion(self) -> None:
        by_class: dict[str, list[str]] = {}
        for r in self.selected_records():
            if r.get("suggested"):
                by_class.setdefault(r["suggested"], []).append(r["path"])
        for cls, paths in by_class.items():
            self.fixes.relabel(paths, cls)

    def _classes(self) -> list[str]:
        return list(self.report.classes) if self.report else []

    def _context_menu(self, pos: QPoint) -> None:
        self.fixes.menu(self.selected_paths(), self._classes(), self).popup(
            self.grid.viewport().mapToGlobal(pos)
        )

    def _update_buttons(self, *_: object) -> None:
        has = bool(self.grid.selectionModel().selectedIndexes()) and self.report is not None
        self.move_button.setMenu(self.fixes.move_menu(self.selected_paths, self._classes(), self))
        for b in (self.move_button, self.remove_button, self.keep_button):
            b.setEnabled(has)
        self.suggested_button.setEnabled(has and any(r.get("suggested") for r in self.selected_records()))
        self.undo_button.setEnabled(self.fixes.undo_action.isEnabled())
        self.undo_button.setToolTip(self.fixes.undo_action.text() + " (Ctrl+Z)")
        self.redo_button.setEnabled(self.fixes.redo_action.isEnabled())
        self.redo_button.setToolTip(self.fixes.redo_action.text() + " (Ctrl+Shift+Z)")

    def _on_changed(self, change: object) -> None:
        """Files moved: the findings follow them (a fixed file leaves the lists), the counts update."""
        changes = change if isinstance(change, list) else [change]
        undone = isinstance(change, list)
        gone: set[str] = set()
        root = self.fixes.root() or ""
        for c in changes:
            gone.update(os.path.join(root, s) for s, _ in c.moves)
            if c.kind == "keep":
                gone.update(os.path.join(root, p) for p in c.paths)
        if self.report is not None and not undone:
            self._groups = [
                (t, todo, [r for r in recs if r["path"] not in gone]) for t, todo, recs in self._groups
            ]
            self._fill_tree(self.tree.indexOfTopLevelItem(self.tree.currentItem()))
        j = self.fixes.journal()
        n = len(j.history()) if j is not None else 0
        last = changes[0].describe() if changes else ""
        verb = "undone/redone" if undone else "done"
        self.changes_label.setText(
            f"{verb}: {last} · {n} change{'s' if n != 1 else ''} in effect "
            "(journal: .resnet-gui/journal.jsonl) · Check again to re-rank"
        )
        self._update_buttons()
        self.dataset_changed.emit()

    def shutdown(self) -> None:
        self._job.shutdown()
        self.loader.shutdown()


class DoctorDialog(QDialog):
    """The check in its own window beside the Dataset tab (not modal: the tab follows every change)."""

    def __init__(self, state: AppState, fixes: FixActions, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Check dataset")
        self.panel = DoctorPanel(state, fixes, self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.panel)
        self.resize(1180, 660)

    def done(self, result: int) -> None:  # closing cancels a running check
        self.panel._job.cancel()
        super().done(result)


def attach_to_dataset_view(view: Any) -> FixActions:  # a DatasetView (not imported: no cycle)
    """The Dataset tab's hook: fixes on its grid (context menu, Ctrl+Z / Ctrl+Shift+Z) and the check."""
    fixes = FixActions(lambda: view.result.root if view.result is not None else None, view)
    fixes.install(view)
    fixes.changed.connect(lambda _c: view._rescan())
    fixes.error.connect(lambda text: view.message.show_message(text))
    view.grid.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    view.grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

    def grid_menu(pos: QPoint) -> None:
        m = view.model
        rows = view.grid.selectionModel().selectedIndexes()
        paths = [m.data(i, m.PathRole) for i in rows]
        classes = list(view.result.index.classes) if view.result else []
        fixes.menu(paths, classes, view).popup(view.grid.viewport().mapToGlobal(pos))

    view.grid.customContextMenuRequested.connect(grid_menu)

    def files_changed(root: str) -> None:  # Classify's feedback or the gallery changed the folder
        fixes.refresh()
        if view.result is not None and os.path.abspath(root) == os.path.abspath(view.result.root):
            view._rescan()

    view.state.files_changed.connect(files_changed)
    view.doctor_dialog = None

    def open_check() -> None:
        if view.result is None:
            view.message.show_message("Open a dataset folder first", kind="info")
            return
        if view.doctor_dialog is None:
            view.doctor_dialog = DoctorDialog(view.state, fixes, view)
            view.doctor_dialog.panel.retrain_requested.connect(view.state.request_retrain)
            view.doctor_dialog.panel.check_finished.connect(
                lambda report: [
                    view.state.report_unreadable(u["path"], u["reason"]) for u in report.unreadable
                ]
            )  # the Dataset tab's problems list names them too
        view.doctor_dialog.show()
        view.doctor_dialog.raise_()
        view.doctor_dialog.panel.start()  # the quick built-in model: fast, needs no checkpoint

    view.check_button.clicked.connect(lambda _checked=False: open_check())
    view.open_check = open_check
    return fixes
