"""Classify tab: drop images (or a folder, or paste one) and read the answer and how long it took.

The engine's `Predictor` is loaded once per checkpoint and reused; loading and predicting run on Worker
threads one job at a time (a new drop stops the previous batch between images). Results stream into a
sortable table; the selected row shows the picture, the top-k bars and the timings.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QSize,
    QSortFilterProxyModel,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from resnet_gui.ui.classify.extras import BenchPanel, CamToggle
from resnet_gui.ui.classify.widgets import PASTED, THUMB, DropZone, ImagePreview, ResultsModel, Row, TopKBars
from resnet_gui.ui.common import (
    IMAGE_FILTER,
    MessageBar,
    error_text,
    fmt_ms,
    fmt_pct,
    heading,
    is_checkpoint_file,
)
from resnet_gui.ui.workers import ImageLoader, Worker, pil_to_qimage

TOPK = 5


@dataclass
class Expanded:
    total: int


def qimage_to_pil(qimg: QImage) -> Any:
    from PIL import Image

    img = qimg.convertToFormat(QImage.Format.Format_RGB888)
    data = bytes(img.constBits())
    return Image.frombuffer("RGB", (img.width(), img.height()), data, "raw", "RGB", img.bytesPerLine(), 1)


def load_predictor(path: str) -> Any:
    """Load a checkpoint into a Predictor (off the GUI thread: reads weights and warms up)."""
    from resnet_gui.engine.infer.predict import Predictor

    return Predictor(path, device="auto")


def predict_items(predictor: Any, items: list[Any], topk: int, on_event: Any, stop: Any) -> int:
    """Classify files, folders (the images inside) and pasted QImages; one event per image."""
    from resnet_gui.engine.data.images import load_image
    from resnet_gui.engine.infer.predict import expand_inputs

    sources: list[Any] = []
    for item in items:
        if isinstance(item, QImage):
            sources.append(item)
        elif Path(item).is_dir():
            found = expand_inputs([item])
            if not found:
                from resnet_gui.engine.infer.predict import Prediction

                on_event(
                    Row(
                        Path(item).name,
                        str(item),
                        Prediction(str(item), error="no images in this folder"),
                        None,
                    )
                )
            sources.extend(str(p) for p in found)
        else:
            sources.append(str(item))
    on_event(Expanded(len(sources)))
    done = 0
    for src in sources:
        if stop.is_set():
            break
        if isinstance(src, QImage):
            pred = predictor.predict_one(qimage_to_pil(src), topk=topk)
            row = Row(PASTED, None, pred, src.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio), src)
        else:
            pred = predictor.predict_one(src, topk=topk)
            thumb = None
            if pred.error is None:
                try:
                    img = load_image(src)
                    img.thumbnail((THUMB, THUMB))
                    thumb = pil_to_qimage(img)
                except Exception:  # the prediction stands; only the thumbnail is missing
                    thumb = None
            row = Row(Path(src).name, src, pred, thumb)
        on_event(row)
        done += 1
    return done


class InferenceView(QWidget):
    """The Classify tab."""

    busy = Signal(str)
    checkpoint_loaded = Signal(str)
    predictions_done = Signal(int)  # how many inputs were classified
    error = Signal(str)
    go_train = Signal()
    open_checkpoint_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.predictor: Any = None
        self.checkpoint: str | None = None
        self._worker: Worker | None = None
        self._queue: list[tuple[str, Any]] = []
        self._expected = 0
        self.previews = ImageLoader(720, threads=1, max_pending=4, parent=self)
        self.previews.loaded.connect(self._on_preview)
        self.previews.failed.connect(self._on_preview_failed)
        self._build()
        QShortcut(
            QKeySequence.StandardKey.Paste,
            self,
            self.paste,
            context=Qt.ShortcutContext.WindowShortcut,  # while this tab is shown, wherever the focus is
        )
        self._show_page()

    # --- layout -----------------------------------------------------------------------------------
    def _build(self) -> None:
        self.message = MessageBar()
        self.model_label = QLabel("No model loaded")
        self.model_label.setWordWrap(True)
        self.model_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        open_ckpt = QPushButton("Open Checkpoint…")
        open_ckpt.clicked.connect(self.open_checkpoint_requested)
        self.open_images_button = QPushButton("Open Images…")
        self.open_images_button.setToolTip("Classify image files (or drop them, or paste one with Ctrl+V)")
        self.open_images_button.clicked.connect(self.choose_images)
        self.bench = BenchPanel()
        self.bench.hide()
        self.bench_button = QPushButton("Benchmark…")
        self.bench_button.setCheckable(True)
        self.bench_button.setEnabled(False)
        self.bench_button.setToolTip("How fast is this model on this machine? (latency and throughput)")
        self.bench_button.toggled.connect(self.bench.setVisible)
        top = QHBoxLayout()
        top.addWidget(self.model_label, 1)
        top.addWidget(self.bench_button)
        top.addWidget(self.open_images_button)
        top.addWidget(open_ckpt)

        # empty state: no model yet
        empty = QWidget()
        ev = QVBoxLayout(empty)
        ev.addStretch(1)
        title = heading("No model loaded yet", 1.5)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        body = QLabel(
            "To classify images you need a trained model.<br><br>"
            "<b>Train one</b> on the Train tab (it takes about a minute on the demo data), then press "
            "<i>Use in Classify</i>;<br>or <b>open a checkpoint</b> file (.safetensors, .pt, .pth) — "
            "or drop it on this window."
        )
        body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        body.setWordWrap(True)
        go = QPushButton("Go to the Train tab")
        go.clicked.connect(self.go_train)
        op = QPushButton("Open Checkpoint…")
        op.clicked.connect(self.open_checkpoint_requested)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(go)
        buttons.addWidget(op)
        buttons.addStretch(1)
        ev.addWidget(title)
        ev.addWidget(body)
        ev.addLayout(buttons)
        ev.addStretch(2)

        # drop zone (model loaded, nothing classified yet)
        self.drop_zone = DropZone(
            "<h2>Drop images here</h2><p>one or many files, or a whole folder</p>"
            "<p>or click here to choose them, or paste an image with <b>Ctrl+V</b></p>"
        )
        self.drop_zone.clicked.connect(self.choose_images)
        self.drop_zone.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.drop_zone.setObjectName("DropZone")
        self.drop_zone.setStyleSheet(
            "#DropZone { border: 2px dashed palette(mid); border-radius: 12px; color: palette(text); }"
        )
        self.drop_zone.setMinimumHeight(240)

        # results
        self.preview = ImagePreview()
        self.result_title = heading("", 1.5)
        self.result_title.setWordWrap(True)
        self.topk = TopKBars()
        self.timing_label = QLabel()
        self.timing_label.setWordWrap(True)
        self.timing_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.path_label = QLabel()
        self.path_label.setWordWrap(True)
        self.path_label.setEnabled(False)
        details = QWidget()
        dv = QVBoxLayout(details)
        dv.addWidget(self.result_title)
        dv.addWidget(self.topk)
        dv.addSpacing(8)
        dv.addWidget(self.timing_label)
        dv.addWidget(self.path_label)
        dv.addStretch(1)
        details.setMinimumWidth(300)
        self.cam = CamToggle(self)
        self.cam.overlay_ready.connect(self.preview.set_image)
        self.cam.restore.connect(
            lambda: self._show_row(self._shown) if getattr(self, "_shown", None) else None
        )
        picture = QWidget()
        pv = QVBoxLayout(picture)
        pv.setContentsMargins(0, 0, 0, 0)
        pv.addWidget(self.preview, 1)
        pv.addWidget(self.cam.checkbox)
        pv.addWidget(self.cam.caption)
        upper = QSplitter()
        upper.addWidget(picture)
        upper.addWidget(details)
        upper.setStretchFactor(0, 3)
        upper.setStretchFactor(1, 2)

        self.results = ResultsModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.results)
        self.proxy.setSortRole(ResultsModel.SortRole)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # arrival order until a header is clicked
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setIconSize(QSize(THUMB, THUMB))
        self.table.verticalHeader().setDefaultSectionSize(THUMB + 6)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(0, THUMB + 12)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for col in (2, 3, 4):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_changed)
        self.count_label = QLabel()
        self.export_button = QPushButton("Export CSV…")
        self.export_button.clicked.connect(self.choose_export)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.clear_results)
        tb = QHBoxLayout()
        tb.addWidget(self.count_label, 1)
        tb.addWidget(self.clear_button)
        tb.addWidget(self.export_button)
        lower = QWidget()
        lv = QVBoxLayout(lower)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addLayout(tb)
        lv.addWidget(self.table)
        results = QSplitter(Qt.Orientation.Vertical)
        results.addWidget(upper)
        results.addWidget(lower)
        results.setStretchFactor(0, 3)
        results.setStretchFactor(1, 2)

        self.pages = QStackedWidget()
        self.pages.addWidget(empty)  # 0
        self.pages.addWidget(self.drop_zone)  # 1
        self.pages.addWidget(results)  # 2
        self.loading = QLabel("Loading the model…")
        self.loading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pages.addWidget(self.loading)  # 3

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        layout.addWidget(line)
        layout.addWidget(self.message)
        layout.addWidget(self.bench)
        layout.addWidget(self.pages, 1)

    def _show_page(self) -> None:
        loading = self._worker is not None and self._worker.is_running() and self._job_kind == "load"
        if loading and self.predictor is None:
            self.pages.setCurrentIndex(3)
        elif self.predictor is None:
            self.pages.setCurrentIndex(0)
        elif self.results.rowCount() == 0 and self._expected == 0:
            self.pages.setCurrentIndex(1)
        else:
            self.pages.setCurrentIndex(2)
        self.open_images_button.setEnabled(self.predictor is not None)
        self.export_button.setEnabled(self.results.rowCount() > 0)
        self.clear_button.setEnabled(self.results.rowCount() > 0)

    # --- jobs: one at a time ----------------------------------------------------------------------
    _job_kind = ""

    def _submit(self, kind: str, arg: Any) -> None:
        if kind == "predict":
            self._queue = [j for j in self._queue if j[0] != "predict"]  # the newest drop wins
        self._queue.append((kind, arg))
        if self._worker is not None and self._worker.is_running():
            if self._job_kind == "predict":
                self._worker.stop()
            return
        self._next_job()

    def _next_job(self) -> None:
        if not self._queue:
            self._show_page()
            return
        if self._worker is not None:
            self._worker.join()
        kind, arg = self._queue.pop(0)
        self._job_kind = kind
        if kind == "load":
            self.message.hide()
            self.busy.emit(f"Loading {Path(arg).name}…")
            self.loading.setText(f"Loading {arg}…")
            self._worker = Worker(load_predictor, arg, events=False)
            self._worker.returned.connect(self._on_loaded)
            self._load_path = arg
        else:
            if self.predictor is None:
                self._show_error(
                    "No model loaded yet: train one on the Train tab or open a checkpoint first."
                )
                self._next_job()
                return
            self.results.clear()
            self._expected = -1
            self._errors: list[str] = []
            self.busy.emit("Classifying…")
            self._worker = Worker(predict_items, self.predictor, list(arg), TOPK)
            self._worker.event.connect(self._on_predict_event)
            self._worker.returned.connect(self._on_predicted)
        self._worker.errored.connect(self._on_job_failed)
        self._worker.finished.connect(self._on_job_finished)
        self._worker.start()
        self._show_page()

    @Slot()
    def _on_job_finished(self) -> None:
        self._worker.join()
        self.busy.emit("")
        self._next_job()

    @Slot(object)
    def _on_job_failed(self, exc: BaseException) -> None:
        text = error_text(exc)
        if self._job_kind == "load":
            self._show_error(f"Cannot load {Path(self._load_path).name}: {text}")
        else:
            self._show_error(f"Classification failed: {text}")

    # --- checkpoint -------------------------------------------------------------------------------
    def load_checkpoint(self, path: str) -> None:
        """Load `path` off the GUI thread; the current model stays usable until it is ready."""
        self._submit("load", str(path))

    @Slot(object)
    def _on_loaded(self, predictor: Any) -> None:
        if self.predictor is not None and self.results.rowCount():
            self.clear_results()  # those answers came from the previous model
        self.predictor = predictor
        self.checkpoint = self._load_path
        info = predictor.info()
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
        self.model_label.setText(" · ".join(parts) + f"<br><small>{self.checkpoint}</small>")
        self.model_label.setToolTip(self.checkpoint)
        self.cam.set_predictor(predictor)
        self.bench.set_checkpoint(self.checkpoint)
        self.bench_button.setEnabled(True)
        self.checkpoint_loaded.emit(self.checkpoint)
        self._show_page()

    # --- inputs -----------------------------------------------------------------------------------
    def classify(self, items: list[Any]) -> None:
        """Classify files, folders and/or QImages (replaces the table)."""
        if not items:
            return
        if (
            self.predictor is None
            and not any(k == "load" for k, _ in self._queue)
            and self._job_kind != "load"
        ):
            self._show_error("No model loaded yet: train one on the Train tab, or open a checkpoint first.")
            return
        self.message.hide()
        self._submit("predict", items)

    def choose_images(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open Images", "", IMAGE_FILTER)
        if paths:
            self.classify(paths)

    def paste(self) -> None:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is not None and mime.hasImage():
            img = QImage(mime.imageData())
            if not img.isNull():
                self.classify([img])
                return
        if mime is not None and mime.hasUrls():
            self.handle_urls([u.toLocalFile() for u in mime.urls() if u.isLocalFile()])
            return
        self._show_error("The clipboard holds no image to classify.")

    def handle_urls(self, paths: list[str]) -> None:
        """Dropped or pasted files: a checkpoint loads, anything else is classified."""
        paths = [p for p in paths if p]
        ckpts = [p for p in paths if is_checkpoint_file(p) and Path(p).is_file()]
        others = [p for p in paths if p not in ckpts]
        if ckpts:
            self.load_checkpoint(ckpts[-1])
        if others:
            self.classify(others)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        mime = event.mimeData()
        if mime.hasUrls() or mime.hasImage():
            event.acceptProposedAction()

    def dragMoveEvent(self, event: Any) -> None:  # noqa: N802
        event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        mime = event.mimeData()
        if mime.hasUrls():
            local = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
            if not local:
                self._show_error("Only local files can be classified (not web links).")
            self.handle_urls(local)
        elif mime.hasImage():
            self.classify([QImage(mime.imageData())])
        event.acceptProposedAction()

    # --- results ----------------------------------------------------------------------------------
    @Slot(object)
    def _on_predict_event(self, e: Any) -> None:
        if self._worker is None or self._worker.stopping:
            return  # a newer drop replaces this batch
        if isinstance(e, Expanded):
            self._expected = e.total
            self.count_label.setText(f"Classifying {e.total} image{'s' if e.total != 1 else ''}…")
            self._show_page()
            return
        self.results.append(e)
        if e.prediction.error:
            self._errors.append(f"{e.name}: {e.prediction.error}")
        shown = self.selected_row()
        if shown is None or (shown.prediction.error and not e.prediction.error):
            # show the first answer at once; prefer an answer over an error
            row = self.proxy.mapFromSource(self.results.index(self.results.rowCount() - 1, 0)).row()
            self.table.selectRow(row)
            self._show_row(e)
        self._update_count()

    @Slot(object)
    def _on_predicted(self, n: int) -> None:
        if self._worker is not None and self._worker.stopping:
            return
        self._expected = 0
        self._update_count()
        if self._errors:
            more = f" (and {len(self._errors) - 1} more)" if len(self._errors) > 1 else ""
            self._show_error(f"Could not classify {self._errors[0]}{more}")
        if self.results.rowCount() == 0:
            self._show_error("Nothing to classify: no images found there.")
        self._show_page()
        self.predictions_done.emit(n)

    def _update_count(self) -> None:
        rows = self.results.rows
        ok = [r for r in rows if r.prediction.error is None]
        text = f"{len(rows)} image{'s' if len(rows) != 1 else ''}"
        if len(ok) != len(rows):
            text += f" ({len(rows) - len(ok)} failed)"
        if ok:
            mean = sum(r.prediction.timing_ms["total"] for r in ok) / len(ok)
            text += f" · {mean:.1f} ms per image on average"
        if self._expected > len(rows):
            text += f" · {self._expected - len(rows)} to go…"
        self.count_label.setText(text)

    def clear_results(self) -> None:
        self.results.clear()
        self._expected = 0
        self.preview.set_image(None)
        self._show_page()

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self._show_row(self.results.rows[self.proxy.mapToSource(current).row()])

    def selected_row(self) -> Row | None:
        idx = self.table.selectionModel().currentIndex()
        return self.results.rows[self.proxy.mapToSource(idx).row()] if idx.isValid() else None

    def _show_row(self, row: Row) -> None:
        p = row.prediction
        self._shown = row
        self.cam.show_row(row)
        self.path_label.setText(row.path or PASTED)
        if p.error:
            self.result_title.setText(f"Cannot classify {row.name}")
            self.topk.set_topk([])
            self.timing_label.setText(p.error)
            self.preview.set_image(None, "No picture")
            return
        name, prob = p.topk[0]
        self.result_title.setText(f"{name} — {fmt_pct(prob)}")
        self.topk.set_topk(p.topk)
        t = p.timing_ms
        device = self.predictor.device_name if self.predictor is not None else ""
        rows = "".join(
            f"<tr><td>{name}</td><td align='right'>&nbsp;&nbsp;{fmt_ms(t.get(key))}</td></tr>"
            for name, key in (
                ("load (read + decode)", "load"),
                ("preprocess", "preprocess"),
                ("forward pass", "forward"),
            )
        )
        self.timing_label.setText(
            f"<b>{fmt_ms(t.get('total'))}</b> on {device}<table style='margin-top:4px'>{rows}</table>"
        )
        if row.image is not None:
            self.preview.set_image(row.image)
        elif row.path:
            self.preview.set_image(row.thumb, "Loading…")  # the thumbnail until the full picture is read
            self.previews.request(row.path)

    @Slot(str, QImage, object)
    def _on_preview(self, path: str, img: QImage, info: dict) -> None:
        shown = getattr(self, "_shown", None)
        if shown is not None and shown.path == path:
            if not self.cam.is_shown(path):  # the Grad-CAM overlay, when on, stays
                self.preview.set_image(img)
            self.path_label.setText(f"{path} · {info['width']} × {info['height']} px")

    @Slot(str, str)
    def _on_preview_failed(self, path: str, reason: str) -> None:
        shown = getattr(self, "_shown", None)
        if shown is not None and shown.path == path and not self.preview.has_image():
            self.preview.set_image(None, reason)

    # --- export -----------------------------------------------------------------------------------
    def choose_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export CSV", "predictions.csv", "CSV files (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path: str) -> None:
        """The table as CSV: one row per input, top-k as class:prob pairs, timings in ms."""
        from dataclasses import replace

        from resnet_gui.engine.infer.predict import write_predictions_csv

        try:
            write_predictions_csv(
                (replace(r.prediction, path=r.path or r.name) for r in self.results.rows), path
            )
        except OSError as exc:
            self._show_error(f"Cannot write {path}: {exc.strerror or exc}")

    # --- misc -------------------------------------------------------------------------------------
    def _show_error(self, text: str) -> None:
        self.message.show_message(text)
        self.error.emit(text)

    def is_busy(self) -> bool:
        return (
            (self._worker is not None and self._worker.is_running())
            or self.cam.is_busy()
            or self.bench.is_running()
        )

    def shutdown(self) -> None:
        self._queue = []
        if self._worker is not None:
            self._worker.stop_and_join()
        self.cam.shutdown()
        self.bench.shutdown()
        self.previews.shutdown()
