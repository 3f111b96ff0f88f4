"""Dataset browser: what is in the folder (classes, split, problems) and a virtual thumbnail grid.

Scanning runs on a Worker thread, thumbnails decode on a thread pool into a bounded LRU cache; the grid
is a QListView over a list model, so only the rows on screen are ever asked for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from resnet_gui.ui.common import MessageBar, error_text, heading, settings
from resnet_gui.ui.dataset.widgets import (
    THUMB,
    TRAIN_COLOR,
    VAL_COLOR,
    ClassBars,
    ImageDialog,
    ThumbnailModel,
    thumbnail_grid,
)
from resnet_gui.ui.workers import ImageLoader, Worker


@dataclass
class ScanResult:
    """What the view shows about a folder; built on the worker thread."""

    index: Any  # engine.scan.DatasetIndex
    entries: list[tuple[str, int, str]]  # (path, label, split), grouped by class
    auto_img_size: int | None
    scan_s: float
    val_split: float
    is_demo: bool = False
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> class -> images

    @property
    def root(self) -> str:
        return self.index.root


def scan_for_view(path: str | None, val_split: float = 0.2) -> ScanResult:
    """Scan `path` (None: the built-in demo, created on first use). Runs off the GUI thread."""
    from resnet_gui.engine.data import (
        demo,  # torch-free: counts show before torch has loaded
        scan,
    )

    is_demo = path is None
    if is_demo:
        path = str(demo.default_demo_dir())
    t0 = time.perf_counter()
    index = scan.scan_dataset(path, val_split=val_split)
    scan_s = time.perf_counter() - t0
    # grouped by class with a plain loop, not a sort: list.sort holds the GIL (and so stalls the GUI
    # thread) for the whole merge on 100k entries
    buckets: list[list[tuple[str, int, str]]] = [[] for _ in index.classes]
    for split, samples in (("train", index.train), ("val", index.val)):
        for s in samples:
            buckets[s.label].append((s.path, s.label, split))
    for bucket in buckets:
        bucket.sort()  # by path; one class at a time keeps each GIL hold short
    entries = [e for bucket in buckets for e in bucket]
    try:
        auto = scan.auto_img_size(index)
    except Exception:  # a guess for the form only; training decides for itself
        auto = None
    counts = {split: index.counts(split) for split in ("train", "val", "all")}
    return ScanResult(index, entries, auto, scan_s, val_split, is_demo, counts)


class DatasetView(QWidget):
    """The Dataset tab."""

    dataset_loaded = Signal(object)  # ScanResult
    busy = Signal(str)  # status-bar text; "" when idle
    error = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.result: ScanResult | None = None
        self._worker: Worker | None = None
        self._pending_scan: tuple[str | None, float] | None = None
        self.thumbs = ImageLoader(THUMB, threads=2, upscale=True, parent=self)
        self.previews = ImageLoader(1024, threads=1, max_pending=4, parent=self)
        self.model = ThumbnailModel(self.thumbs, self)
        self.thumbs.failed.connect(self._on_unreadable)

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

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([320, 900])
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
        self._val_split = 0.2

    # --- opening ----------------------------------------------------------------------------------
    def choose_folder(self) -> None:
        last = str(settings().value("last_folder", "") or "")
        start = self.result.root if self.result and not self.result.is_demo else last or str(Path.home())
        path = QFileDialog.getExistingDirectory(self, "Open Dataset Folder", start)
        if path:
            self.open_folder(path)

    def open_folder(self, path: str | None) -> None:
        """Scan `path` off the GUI thread (None: the built-in demo dataset)."""
        if self._worker is not None and self._worker.is_running():
            self._pending_scan = (path, self._val_split)
            return
        if self._worker is not None:
            self._worker.join()
        self.message.hide()
        what = "the demo dataset" if path is None else path
        self.folder_label.setText(f"Scanning {what}…")
        self.busy.emit(f"Scanning {what}…")
        if self.result is None:
            first = " (the first time it is also generated: a few seconds)" if path is None else ""
            self.loading.setText(f"<h3>Opening {what}…</h3><p>{first}</p>")
            self.stack.setCurrentIndex(2)
        self._worker = Worker(scan_for_view, path, self._val_split, events=False)
        self._worker.returned.connect(self._on_scanned)
        self._worker.errored.connect(self._on_scan_failed)
        self._worker.finished.connect(self._on_scan_finished)
        self._worker.start()

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

    @Slot(object)
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
        self.dataset_loaded.emit(result)

    @Slot(object)
    def _on_scan_failed(self, exc: BaseException) -> None:
        text = error_text(exc)
        self.folder_label.setText(self.result.root if self.result else "No folder open")
        self.stack.setCurrentIndex(1 if self.result else 0)
        self.message.show_message(f"Cannot open this folder: {text}")
        self.error.emit(text)

    @Slot()
    def _on_scan_finished(self) -> None:
        self._worker.join()
        self.busy.emit("")
        if self._pending_scan is not None:
            path, self._val_split = self._pending_scan
            self._pending_scan = None
            self.open_folder(path)

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
    def _on_unreadable(self, path: str, reason: str) -> None:
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
        dialog.open()

    # --- lifetime ---------------------------------------------------------------------------------
    def is_busy(self) -> bool:
        return self._worker is not None and self._worker.is_running()

    def shutdown(self) -> None:
        """Stop background work and wait for it (window closing)."""
        self._rescan_timer.stop()
        self._pending_scan = None
        if self._worker is not None:
            self._worker.stop_and_join()
        self.thumbs.shutdown()
        self.previews.shutdown()
