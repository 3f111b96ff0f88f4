"""The Runs tab: every run in the runs folder the app and `resnet-gui train` share (engine/config.py
`default_runs_dir`), with what it is (data, architecture, best accuracy, status) and what it costs on disk.

Open loads a run's best model in Classify; Show in Train overlays its curves on the Train plots; Compare
puts two or more side by side; Rename renames the folder; Move to Trash moves it to `<runs>/.trash/`
(Empty Trash deletes for good, after asking). The folder is read on a worker (engine/runs.py), when the
tab is shown, after each change and when a training run ends.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from resnet_gui.engine.config import arch_label
from resnet_gui.format import fmt_bytes, fmt_pct
from resnet_gui.ui.common import HeadedTableModel, MessageBar, button, error_text, heading
from resnet_gui.ui.jobs_tools import RunsListing, empty_runs_trash, list_runs_for_view
from resnet_gui.ui.workers import LatestJob

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_TEXT = {"finished": "finished", "stopped": "stopped", "failed": "failed", "running": "running"}


class RunsTableModel(HeadedTableModel):
    """One row per run (engine.runs.RunInfo); sorts by the raw values (dates, accuracies, bytes)."""

    HEADERS = ("Name", "Started", "Dataset", "Model", "Epochs", "Best val acc", "Size", "Status")

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.runs: list = []

    def set_runs(self, runs: list) -> None:
        self.beginResetModel()
        self.runs = list(runs)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.runs)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid():
            return None
        r, col = self.runs[index.row()], index.column()
        values = (
            r.name,
            r.started,
            r.dataset,
            r.arch,
            r.epochs,
            r.best_val_acc if r.best_val_acc is not None else -1.0,
            r.size_bytes,
            r.status,
        )
        if role == SORT_ROLE:
            return values[col]
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 1:
                return r.started[:16].replace("T", " ") if r.started else "--"
            if col == 3:
                return arch_label(r.arch) if r.arch else "--"
            if col == 5:
                return fmt_pct(r.best_val_acc)
            if col == 6:
                return fmt_bytes(r.size_bytes)
            if col == 7:
                return STATUS_TEXT.get(r.status, r.status)
            return values[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{r.path}\ndata: {r.data_dir or 'unknown'}"
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (4, 5, 6):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class RunsView(QWidget):
    """The runs folder as a sortable table, with open / compare / rename / trash and the disk it uses."""

    open_checkpoint = Signal(str)  # a run's best model: load it in Classify
    show_in_train = Signal(str)  # a run folder: overlay its curves in the Train tab
    busy = Signal(str)

    def __init__(self, runs_dir: str | Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.runs_dir = Path(runs_dir)
        #: whether a run folder is training now (the window sets it): not renamed or trashed under it
        self.is_active: Callable[[str], bool] = lambda _path: False
        self.listing: RunsListing | None = None
        self._job = LatestJob(self)
        self._trash_job = LatestJob(self)
        self._compare_dialogs: list[QWidget] = []
        self._select_next: list[str] | None = None  # after a rename: the new folder

        self.model = RunsTableModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(lambda _i: self.open_selected())
        self.table.selectionModel().selectionChanged.connect(self.update_buttons)

        self.message = MessageBar()
        self.folder_label = QLabel()
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.usage_label = QLabel()
        self.open_button = button("Open in Classify", self.open_selected, "Load the run's best model (Enter)")
        self.train_button = button(
            "Show in Train", self.show_selected, "Overlay its curves on the Train plots"
        )
        self.compare_button = button("Compare…", self.compare_selected, "Two or more runs side by side")
        self.rename_button = button("Rename…", self.rename_selected, "Rename the run's folder")
        self.trash_button = button("Move to Trash", self.trash_selected, "Move to the runs folder's .trash/")
        self.empty_button = button("Empty Trash…", self.empty_trash, "Delete what is in the trash for good")
        refresh = button("Refresh", self.refresh, "Read the runs folder again (F5)")
        refresh.setShortcut("F5")
        reveal = button("Open Folder", self._reveal, "Show the runs folder in the file manager")

        top = QHBoxLayout()
        top.addWidget(heading("Runs"))
        top.addWidget(self.folder_label, 1)
        top.addWidget(reveal)
        top.addWidget(refresh)
        actions = QHBoxLayout()
        for b in (self.open_button, self.train_button, self.compare_button, self.rename_button):
            actions.addWidget(b)
        actions.addStretch(1)
        actions.addWidget(self.trash_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.usage_label, 1)
        bottom.addWidget(self.empty_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.message)
        layout.addLayout(actions)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)
        self._show_folder()
        self.update_buttons()

    # --- reading the folder -------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        self.refresh()

    def set_runs_dir(self, runs_dir: str | Path) -> None:
        self.runs_dir = Path(runs_dir)
        self._show_folder()
        self.refresh()

    def refresh(self) -> None:
        """Read the runs folder again, on a worker."""
        self.busy.emit("Reading the runs folder…")
        self._job.start(
            list_runs_for_view,
            str(self.runs_dir),
            on_done=self._on_listing,
            on_error=lambda exc: self.message.show_message(f"Could not read the runs: {error_text(exc)}"),
            on_finished=lambda: self.busy.emit(""),
        )

    def is_busy(self) -> bool:
        return self._job.is_running() or self._trash_job.is_running()

    def _on_listing(self, listing: RunsListing) -> None:
        selected = self._select_next or [r.path for r in self.selected_runs()]
        self._select_next = None
        self.listing = listing
        self.model.set_runs(listing.runs)
        self.select_paths(selected)
        usage = listing.usage
        trash = f", {fmt_bytes(usage['trash'])} in the trash" if usage.get("trash") else ""
        self.usage_label.setText(
            f"{len(listing.runs)} run{'s' if len(listing.runs) != 1 else ''} · "
            f"disk used: <b>{fmt_bytes(usage['runs'])}</b>{trash}"
        )
        self.empty_button.setEnabled(bool(usage.get("trash")))
        self.update_buttons()

    def _show_folder(self) -> None:
        self.folder_label.setText(f"<span style='color: gray'>{self.runs_dir}</span>")
        self.folder_label.setToolTip(
            "The runs folder the app and `resnet-gui train` share (set RESNET_GUI_HOME to move it)"
        )

    # --- selection ----------------------------------------------------------------------------------
    def selected_runs(self) -> list:
        rows = sorted({self.proxy.mapToSource(i).row() for i in self.table.selectionModel().selectedRows()})
        return [self.model.runs[r] for r in rows if r < len(self.model.runs)]

    def select_paths(self, paths: list[str]) -> None:
        """Select the runs with these folders (tests, and after a rename)."""
        self.table.clearSelection()
        selection = self.table.selectionModel()
        for row in range(self.proxy.rowCount()):
            run = self.model.runs[self.proxy.mapToSource(self.proxy.index(row, 0)).row()]
            if run.path in paths:
                selection.select(
                    self.proxy.index(row, 0), selection.SelectionFlag.Select | selection.SelectionFlag.Rows
                )

    def update_buttons(self, *_args: Any) -> None:
        runs = self.selected_runs()
        one = len(runs) == 1
        self.open_button.setEnabled(one and runs[0].checkpoint is not None)
        self.train_button.setEnabled(one and bool(runs[0].history))
        self.compare_button.setEnabled(len(runs) >= 2)
        self.rename_button.setEnabled(one and not self.is_active(runs[0].path))
        self.trash_button.setEnabled(bool(runs) and not any(self.is_active(r.path) for r in runs))

    # --- actions ------------------------------------------------------------------------------------
    def open_selected(self) -> None:
        runs = self.selected_runs()
        if len(runs) == 1 and runs[0].checkpoint:
            self.open_checkpoint.emit(runs[0].checkpoint)

    def show_selected(self) -> None:
        runs = self.selected_runs()
        if len(runs) == 1:
            self.show_in_train.emit(runs[0].path)

    def compare_selected(self) -> None:
        from resnet_gui.ui.runs.compare import RunsCompareDialog

        runs = self.selected_runs()
        if len(runs) < 2:
            return
        dialog = RunsCompareDialog(runs, self)
        dialog.finished.connect(lambda _r, d=dialog: self._compare_dialogs.remove(d))
        self._compare_dialogs.append(dialog)
        dialog.show()

    def rename_selected(self, new_name: str | None = None) -> None:
        """Rename the selected run (`new_name` given: no dialog)."""
        from resnet_gui.engine.errors import EngineError
        from resnet_gui.engine.runs import rename_run

        runs = self.selected_runs()
        if len(runs) != 1 or self.is_active(runs[0].path):
            return
        run = runs[0]
        if new_name is None:
            new_name, ok = QInputDialog.getText(self, "Rename Run", "New name:", text=run.name)
            if not ok:
                return
        try:
            target = rename_run(run.path, new_name)
        except EngineError as exc:
            self.message.show_message(str(exc))
            return
        self.message.dismiss()
        self._after_change(select=[str(target)])

    def trash_selected(self, confirm: bool = True) -> None:
        """Move the selected runs to the trash (asks first unless `confirm` is False)."""
        from resnet_gui.engine.errors import EngineError
        from resnet_gui.engine.runs import trash_run

        runs = [r for r in self.selected_runs() if not self.is_active(r.path)]
        if not runs:
            return
        if confirm:
            names = ", ".join(r.name for r in runs[:3]) + (
                f" and {len(runs) - 3} more" if len(runs) > 3 else ""
            )
            size = fmt_bytes(sum(r.size_bytes for r in runs))
            answer = QMessageBox.question(
                self, "Move to Trash", f"Move {names} ({size}) to the runs folder's trash?"
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        failed = []
        for run in runs:
            try:
                trash_run(run.path)
            except EngineError as exc:
                failed.append(str(exc))
        if failed:
            self.message.show_message("; ".join(failed))
        self._after_change()

    def empty_trash(self, confirm: bool = True) -> None:
        if confirm:
            trash = fmt_bytes((self.listing.usage if self.listing else {}).get("trash", 0))
            answer = QMessageBox.question(
                self, "Empty Trash", f"Delete the runs in the trash ({trash}) for good?"
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.empty_button.setEnabled(False)
        self._trash_job.start(
            empty_runs_trash,
            str(self.runs_dir),
            on_error=lambda exc: self.message.show_message(f"Could not empty the trash: {error_text(exc)}"),
            on_finished=self.refresh,
        )

    def _after_change(self, select: list[str] | None = None) -> None:
        self._select_next = select
        self.refresh()

    def _reveal(self) -> None:
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.runs_dir)))

    def shutdown(self) -> None:
        self._job.shutdown()
        self._trash_job.shutdown()
        for dialog in list(self._compare_dialogs):
            dialog.close()
