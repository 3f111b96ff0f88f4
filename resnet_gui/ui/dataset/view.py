"""Dataset browser: what is in the folder (classes, split, problems) and a virtual thumbnail grid.

Scanning runs off the GUI thread (the newest folder asked for wins), thumbnails decode on a thread pool
into a bounded LRU cache; the grid is a QListView over a list model, so only the rows on screen are ever
asked for. The scanned dataset goes to the app state; the Train form's validation split and the files
training could not read come back from it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import (
    QModelIndex,
    QSize,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from resnet_gui.ui.common import MessageBar, error_text, heading, settings, side_by_side
from resnet_gui.ui.dataset.doctor_panel import attach_to_dataset_view
from resnet_gui.ui.dataset.widgets import (
    THUMB,
    TRAIN_COLOR,
    VAL_COLOR,
    ClassBars,
    ImageDialog,
    ThumbnailModel,
    thumbnail_grid,
)
from resnet_gui.ui.jobs import ScanResult, scan_for_view
from resnet_gui.ui.state import AppState
from resnet_gui.ui.workers import ImageLoader, LatestJob


class DatasetView(QWidget):
    """The Dataset tab."""

    dataset_loaded = Signal(object)  # ScanResult
    busy = Signal(str)  # status-bar text; "" when idle
    error = Signal(str)

    def __init__(self, state: AppState | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state or AppState(self)
        self.result: ScanResult | None = None
        self._scan = LatestJob(self)
        self._val_split = self.state.val_split
        self.thumbs = ImageLoader(THUMB, threads=2, upscale=True, parent=self)
        self.previews = ImageLoader(1024, threads=1, max_pending=4, parent=self)
        self.model = ThumbnailModel(self.thumbs, self)
        self.thumbs.failed.connect(self.add_unreadable)
        self.state.file_unreadable.connect(self.add_unreadable)
        self.state.val_split_changed.connect(self.set_val_split)

        # header
        self.folder_label = QLabel("No folder open")
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QPushButton("Open Folder…")
        self.open_button.setToolTip("A folder with one subfolder of images per class (Ctrl+O)")
        self.open_button.clicked.connect(self.choose_folder)
        header = QHBoxLayout()
        header.addWidget(QLabel("<b>Folder:</b>"))
        header.addWidget(self.folder_label, 1)
        header.addWidget(self.open_button)
        self.check_button = QPushButton("Check dataset…")
        self.check_button.setToolTip(
            "Duplicates, train/val leakage, unreadable files, imbalance, label errors"
        )
        header.addWidget(self.check_button)
        self.message = MessageBar()

        # summary (left)
        self.total_label = heading("–")
        self.split_label = QLabel()
        self.split_label.setWordWrap(True)
        self.bars = ClassBars()
        self.bars.class_clicked.connect(self._filter_to_class)
        bars_scroll = QScrollArea()
        bars_scroll.setWidget(self.bars)
        bars_scroll.setWidgetResizable(True)
        bars_scroll.setFrameShape(QFrame.Shape.NoFrame)
        legend = QLabel(
            f"<span style='color:{TRAIN_COLOR.name()}'>■</span> train &nbsp; "
            f"<span style='color:{VAL_COLOR.name()}'>■</span> val"
        )
        self.problems = QListWidget()
        self.problems.setWordWrap(True)
        self.problems.setAlternatingRowColors(True)
        self.problems_label = QLabel("<b>Problems</b>")
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 8, 0)
        lv.addWidget(self.total_label)
        lv.addWidget(self.split_label)
        lv.addSpacing(6)
        lv.addWidget(QLabel("<b>Images per class</b>"))
        lv.addWidget(bars_scroll)
        lv.addWidget(legend)
        lv.addSpacing(6)
        lv.addWidget(self.problems_label)
        lv.addWidget(self.problems, 1)
        lv.addStretch(0)
        self._bars_scroll = bars_scroll

        # grid (right)
        self.class_filter = QComboBox()
        self.class_filter.setMinimumContentsLength(16)
        self.split_filter = QComboBox()
        self.split_filter.addItems(["train + val", "train", "val"])
        self.class_filter.currentIndexChanged.connect(self._apply_filter)
        self.split_filter.currentIndexChanged.connect(self._apply_filter)
        self.shown_label = QLabel()
        filters = QHBoxLayout()
        filters.addWidget(QLabel("Class:"))
        filters.addWidget(self.class_filter)
        filters.addWidget(QLabel("Split:"))
        filters.addWidget(self.split_filter)
        filters.addStretch(1)
        filters.addWidget(self.shown_label)
        self.grid = thumbnail_grid(QSize(THUMB + 32, THUMB + 34))
        self.grid.setDragEnabled(False)
        self.grid.setAcceptDrops(False)
        self.grid.setSelectionMode(QListView.SelectionMode.SingleSelection)
        self.grid.setModel(self.model)
        self.grid.doubleClicked.connect(self._open_image)
        self.grid.activated.connect(self._open_image)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(8, 0, 0, 0)
        rv.addLayout(filters)
        rv.addWidget(self.grid, 1)
        hint = QLabel("Double-click an image to see it large.")
        hint.setEnabled(False)
        rv.addWidget(hint)

        splitter = side_by_side(left, right, stretch=(0, 1), sizes=[320, 900])
        left.setMinimumWidth(260)

        # empty state / loading
        self.empty = QLabel(
            "<h2>No dataset open</h2><p>Choose a folder with one subfolder of images per class,<br>"
            "for example <code>pets/cat/*.jpg</code> and <code>pets/dog/*.jpg</code>.</p>"
            "<p>Open it with <b>Open Folder…</b> (Ctrl+O) or drop it on this window.</p>"
        )
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.stack = QStackedWidget()
        self.loading = QLabel("Opening…")
        self.loading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack.addWidget(self.empty)  # 0: nothing open
        self.stack.addWidget(splitter)  # 1: a dataset
        self.stack.addWidget(self.loading)  # 2: the first scan is running

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.message)
        layout.addWidget(self.stack, 1)

        self._rescan_timer = QTimer(self)
        self._rescan_timer.setSingleShot(True)
        self._rescan_timer.setInterval(300)
        self._rescan_timer.timeout.connect(self._rescan)
        self.fixes = attach_to_dataset_view(self)  # ui/dataset/doctor_panel.py: the check, fixes, undo

    # --- opening ----------------------------------------------------------------------------------
    def choose_folder(self) -> None:
        last = str(settings().value("last_folder", "") or "")
        start = self.result.root if self.result and not self.result.is_demo else last or str(Path.home())
        path = QFileDialog.getExistingDirectory(self, "Open Dataset Folder", start)
        if path:
            self.open_folder(path)

    def open_folder(self, path: str | None) -> None:
        """Scan `path` off the GUI thread (None: the built-in demo dataset); a scan still running for an
        earlier request is cancelled."""
        self.message.hide()
        what = "the demo dataset" if path is None else path
        self.folder_label.setText(f"Scanning {what}…")
        self.busy.emit(f"Scanning {what}…")
        if self.result is None:
            first = " (the first time it is also generated: a few seconds)" if path is None else ""
            self.loading.setText(f"<h3>Opening {what}…</h3><p>{first}</p>")
            self.stack.setCurrentIndex(2)
        self._scan.start(
            scan_for_view,
            path,
            self._val_split,
            on_done=self._on_scanned,
            on_error=self._on_scan_failed,
            on_finished=lambda: self.busy.emit(""),
        )

    def set_val_split(self, val_split: float) -> None:
        """The Train tab's validation split changed: recount (debounced)."""
        if abs(val_split - self._val_split) < 1e-9:
            return
        self._val_split = val_split
        if self.result is not None:
            self._rescan_timer.start()

    def _rescan(self) -> None:
        if self.result is not None:
            self.open_folder(None if self.result.is_demo else self.result.root)

    def _on_scanned(self, result: ScanResult) -> None:
        self.result = result
        index = result.index
        self.folder_label.setText(("Demo dataset — " if result.is_demo else "") + index.root)
        n, k = index.num_images, len(index.classes)
        self.total_label.setText(f"{n:,} images · {k} classes")
        if index.split_source == "auto":
            how = f"automatic split, {round(result.val_split * 100)}% held out for validation"
        else:
            how = "from the train/ and val/ folders"
        self.split_label.setText(f"{len(index.train):,} train · {len(index.val):,} val ({how})")
        tr, va = result.counts["train"], result.counts["val"]
        self.bars.set_counts([(c, tr.get(c, 0), va.get(c, 0)) for c in index.classes])
        self._bars_scroll.setFixedHeight(min(self.bars.sizeHint().height() + 4, 360))
        self.problems.clear()
        self.problems.addItems(list(index.problems))
        self._update_problems_label()

        self.class_filter.blockSignals(True)
        self.class_filter.clear()
        self.class_filter.addItem(f"All classes ({n:,})")
        total = result.counts["all"]
        for c in index.classes:
            self.class_filter.addItem(f"{c} ({total.get(c, 0):,})")
        self.class_filter.blockSignals(False)
        self.model.set_data(result.entries, index.classes)
        self._update_shown()
        self.stack.setCurrentIndex(1)
        self.state.set_dataset(result)  # the Train tab, the Model tab and the window follow
        self.dataset_loaded.emit(result)

    def _on_scan_failed(self, exc: BaseException) -> None:
        text = error_text(exc)
        self.folder_label.setText(self.result.root if self.result else "No folder open")
        self.stack.setCurrentIndex(1 if self.result else 0)
        self.message.show_message(f"Cannot open this folder: {text}")
        self.error.emit(text)

    # --- grid -------------------------------------------------------------------------------------
    def _filter_to_class(self, label: int) -> None:
        self.class_filter.setCurrentIndex(label + 1)

    def _apply_filter(self) -> None:
        i = self.class_filter.currentIndex()
        label = i - 1 if i > 0 else None
        split = {1: "train", 2: "val"}.get(self.split_filter.currentIndex())
        self.model.set_filter(label, split)
        self._update_shown()

    def _update_shown(self) -> None:
        self.shown_label.setText(f"{self.model.rowCount():,} shown")

    @Slot(str, str)
    def add_unreadable(self, path: str, reason: str) -> None:
        """A file the thumbnails (or training) could not read joins the problems list, once."""
        text = f"Unreadable file: {path} ({reason})"
        if self.problems.findItems(text, Qt.MatchFlag.MatchExactly):
            return  # found by the thumbnails and again by training
        self.problems.addItem(text)
        self._update_problems_label()

    def _update_problems_label(self) -> None:
        n = self.problems.count()
        self.problems_label.setText(f"<b>Problems</b> ({n})" if n else "<b>Problems</b>: none found")
        self.problems.setVisible(n > 0)

    def _open_image(self, index: QModelIndex) -> None:
        m = self.model
        dialog = ImageDialog(
            self.previews,
            m.data(index, m.PathRole),
            m.data(index, m.ClassRole),
            m.data(index, m.SplitRole),
            self,
        )
        self.fixes.add_to_dialog(dialog, dialog._path, self.result.index.classes if self.result else [])
        dialog.open()

    # --- lifetime ---------------------------------------------------------------------------------
    def is_busy(self) -> bool:
        return self._scan.is_running()

    def shutdown(self) -> None:
        """Stop background work and wait for it (window closing)."""
        self._rescan_timer.stop()
        self._scan.shutdown()
        if self.doctor_dialog is not None:
            self.doctor_dialog.panel.shutdown()
        self.thumbs.shutdown()
        self.previews.shutdown()
