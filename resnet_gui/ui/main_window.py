"""The main window: three tabs (Dataset, Train, Classify), menus, status bar, drops and settings."""

from __future__ import annotations

import gc
import platform
from pathlib import Path
from typing import Any

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QByteArray, Slot, qVersion
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from resnet_gui import __version__
from resnet_gui.engine.events import ImageSkipped
from resnet_gui.ui.classify.view import InferenceView
from resnet_gui.ui.common import (
    CHECKPOINT_FILTER,
    MessageBar,
    is_checkpoint_file,
    settings,
    settings_list,
)
from resnet_gui.ui.dataset.view import DatasetView
from resnet_gui.ui.model.view import ModelView
from resnet_gui.ui.train.view import TrainingView
from resnet_gui.ui.workers import Worker

MAX_RECENT = 8
_GC_FROZEN = False
DATASET_TAB, TRAIN_TAB, CLASSIFY_TAB, MODEL_TAB = 0, 1, 2, 3


def probe_devices() -> dict[str, str | None]:
    """Readable names of the devices torch can use here ("auto" included); None where there is none.

    Runs off the GUI thread: it is also where torch and the engine get imported while the window shows.
    """
    from resnet_gui.engine import device as dev
    from resnet_gui.engine.errors import EngineError

    names: dict[str, str | None] = {}
    for key in ("auto", "cpu", "cuda", "mps"):
        try:
            names[key] = dev.device_name(dev.resolve_device(key))
        except EngineError:
            names[key] = None
    import resnet_gui.engine.infer.predict  # noqa: F401  (warm the imports the first click needs)
    import resnet_gui.engine.train.loop  # noqa: F401

    return names


class MainWindow(QMainWindow):
    """Wires the three views together; owns nothing but menus, the status bar and settings."""

    #: Closing mid-training asks first. Tests that close mid-run on purpose turn it off.
    confirm_close_mid_run = True

    def __init__(self, runs_dir: str | Path | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("ResNet GUI")
        self.setAcceptDrops(True)
        self.devices: dict[str, str | None] = {}
        self._busy: dict[str, str] = {}
        self._closed = False
        self._pending_dataset: Any = None  # a folder opened mid-run reaches the Train tab when the run ends

        self.dataset_view = DatasetView()
        self.training_view = TrainingView(runs_dir=runs_dir)
        self.inference_view = InferenceView()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.dataset_view, "Dataset")
        self.tabs.addTab(self.training_view, "Train")
        self.tabs.addTab(self.inference_view, "Classify")
        self.model_view = ModelView()
        self._export_dialog: Any = None
        self.tabs.addTab(self.model_view, "Model")
        self.tabs.setTabToolTip(MODEL_TAB, "Layers, parameters and GFLOPs of the model (Ctrl+4)")
        self.tabs.setTabToolTip(DATASET_TAB, "What is in your image folder (Ctrl+1)")
        self.tabs.setTabToolTip(TRAIN_TAB, "Train a classifier on it (Ctrl+2)")
        self.tabs.setTabToolTip(CLASSIFY_TAB, "Drop images and see what the model says (Ctrl+3)")
        self.message = MessageBar()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 0)
        layout.addWidget(self.message)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        self.status_label = QLabel("Ready")
        self.device_label = QLabel("Detecting device…")
        self.device_label.setToolTip("The device training and classification use")
        self.statusBar().addWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(self.device_label)

        self._build_menus()
        self._connect()
        self._restore_geometry()
        self._device_worker = Worker(probe_devices, events=False)
        self._device_worker.returned.connect(self._on_devices)
        self._device_worker.errored.connect(self._on_devices_failed)
        self._device_worker.start()

    # --- menus ------------------------------------------------------------------------------------
    def _action(self, text: str, slot: Any, shortcut: Any = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        file.addAction(
            self._action(
                "Open &Dataset Folder…", self.dataset_view.choose_folder, "Ctrl+O", "One subfolder per class"
            )
        )
        file.addAction(self._action("Open De&mo Dataset", lambda: self.open_dataset(None)))
        file.addAction(self._action("Open &Checkpoint…", self.choose_checkpoint, "Ctrl+Shift+O"))
        file.addAction(self._action("Open &Images to Classify…", self._open_images, "Ctrl+I"))
        file.addAction(
            self._action("&Export Model…", self.export_model, "Ctrl+E", "Save as ONNX or TorchScript")
        )
        self.recent_menu = file.addMenu("&Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file.addSeparator()
        quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        quit_action.setShortcuts([QKeySequence("Ctrl+Q")])
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        file.addAction(quit_action)

        view = bar.addMenu("&View")
        for i, name in enumerate(("&Dataset", "&Train", "&Classify", "&Model")):
            view.addAction(
                self._action(name, lambda _=False, i=i: self.tabs.setCurrentIndex(i), f"Ctrl+{i + 1}")
            )

        helpm = bar.addMenu("&Help")
        about = self._action("&About ResNet GUI", self.show_about)
        about.setMenuRole(QAction.MenuRole.AboutRole)
        helpm.addAction(about)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        s = settings()
        folders = [p for p in settings_list(s, "recent/folders") if Path(p).is_dir()]
        ckpts = [p for p in settings_list(s, "recent/checkpoints") if Path(p).is_file()]
        if not folders and not ckpts:
            empty = self.recent_menu.addAction("Nothing yet")
            empty.setEnabled(False)
            return
        for p in folders:
            self.recent_menu.addAction(f"📁  {p}", lambda p=p: self.open_dataset(p))
        if folders and ckpts:
            self.recent_menu.addSeparator()
        for p in ckpts:
            self.recent_menu.addAction(f"🧠  {p}", lambda p=p: self.open_checkpoint(p))
        self.recent_menu.addSeparator()
        self.recent_menu.addAction("Clear Recent", self._clear_recent)

    def _clear_recent(self) -> None:
        s = settings()
        s.remove("recent")

    @staticmethod
    def _remember(key: str, path: str) -> None:
        s = settings()
        items = [p for p in settings_list(s, key) if p != path]
        s.setValue(key, [path, *items][:MAX_RECENT])

    # --- wiring -----------------------------------------------------------------------------------
    def _connect(self) -> None:
        d, t, i = self.dataset_view, self.training_view, self.inference_view
        d.dataset_loaded.connect(self._on_dataset_loaded)
        t.val_split_changed.connect(d.set_val_split)
        t.use_checkpoint.connect(self._use_checkpoint)
        t.results.open_in_classify.connect(self.classify_with)
        t.running_changed.connect(self._on_training_running)
        i.checkpoint_loaded.connect(self._on_checkpoint_loaded)
        i.go_train.connect(lambda: self.tabs.setCurrentIndex(TRAIN_TAB))
        i.open_checkpoint_requested.connect(self.choose_checkpoint)
        for name, view in (("dataset", d), ("train", t), ("classify", i)):
            view.busy.connect(lambda text, name=name: self._set_busy(name, text))
        self.model_view.follow(t, i, d)
        self.model_view.export_requested.connect(self.export_model)
        t.engine_event.connect(self._on_training_event)

    def _set_busy(self, name: str, text: str) -> None:
        if text:
            self._busy[name] = text
        else:
            self._busy.pop(name, None)
        self.status_label.setText("   |   ".join(self._busy.values()) or "Ready")

    @Slot(object)
    def _on_dataset_loaded(self, result: Any) -> None:
        if self.training_view.is_running():  # the running run keeps its data and its panel
            self._pending_dataset = result
        else:
            self.training_view.set_dataset(result)
        self.setWindowTitle(f"{'Demo dataset' if result.is_demo else Path(result.root).name} — ResNet GUI")
        if not result.is_demo:
            settings().setValue("last_folder", result.root)
            self._remember("recent/folders", result.root)

    @Slot(str)
    def _on_checkpoint_loaded(self, path: str) -> None:
        settings().setValue("last_checkpoint", path)
        self._remember("recent/checkpoints", path)

    @Slot(bool)
    def _on_training_running(self, running: bool) -> None:
        self.tabs.setTabText(TRAIN_TAB, "Train ●" if running else "Train")
        if not running and self._pending_dataset is not None:
            result, self._pending_dataset = self._pending_dataset, None
            self.training_view.set_dataset(result)

    @Slot(object)
    def _on_training_event(self, e: object) -> None:
        if isinstance(e, ImageSkipped):  # files training could not read join the Dataset tab's problems
            self.dataset_view._on_unreadable(e.path, e.reason)

    @Slot(str)
    def _use_checkpoint(self, path: str) -> None:
        self.open_checkpoint(path)

    @Slot(object)
    def _on_devices(self, names: dict) -> None:
        if self._closed:  # the probe outlived the window: start nothing more
            return
        # torch and the engine are imported now: move their ~300k objects out of the collector's way.
        # A full collection over them holds the GIL for ~0.5 s and freezes the window; after this ~50 ms.
        global _GC_FROZEN
        if not _GC_FROZEN:
            gc.freeze()
            _GC_FROZEN = True
        self.devices = names
        self.device_label.setText(f"Device: {names.get('auto') or 'CPU'}")
        self.training_view.set_devices(names)
        self.training_view.start_model_facts()

    @Slot(object)
    def _on_devices_failed(self, exc: BaseException) -> None:
        self.device_label.setText("Device: unknown")
        self.show_error(f"Could not load PyTorch: {exc}")

    # --- opening things ---------------------------------------------------------------------------
    def open_dataset(self, path: str | None) -> None:
        """Open a dataset folder (None: the built-in demo) and show the Dataset tab."""
        self.dataset_view.open_folder(path)

    def choose_checkpoint(self) -> None:
        start = str(settings().value("last_checkpoint", "") or "")
        path, _ = QFileDialog.getOpenFileName(self, "Open Checkpoint", start, CHECKPOINT_FILTER)
        if path:
            self.open_checkpoint(path)

    def open_checkpoint(self, path: str) -> None:
        """Load a checkpoint in the Classify tab and show it."""
        self.inference_view.load_checkpoint(path)
        self.tabs.setCurrentIndex(CLASSIFY_TAB)

    def export_model(self, checkpoint: str | None = None) -> None:
        """File > Export Model…: the dialog, for the given or the loaded checkpoint."""
        from resnet_gui.ui.model.export_dialog import ExportDialog

        if self._export_dialog is not None and self._export_dialog.is_running():
            self._export_dialog.raise_()
            return
        ckpt = checkpoint if isinstance(checkpoint, str) and checkpoint else self.inference_view.checkpoint
        self._export_dialog = ExportDialog(ckpt, self)
        self._export_dialog.open()

    def classify_with(self, paths: list[str], checkpoint: str) -> None:
        """Classify files in the Classify tab with `checkpoint` (loaded first unless it is already)."""
        if checkpoint and self.inference_view.checkpoint != checkpoint:
            self.inference_view.load_checkpoint(checkpoint)
        self.tabs.setCurrentIndex(CLASSIFY_TAB)
        self.inference_view.classify(paths)

    def _open_images(self) -> None:
        self.tabs.setCurrentIndex(CLASSIFY_TAB)
        self.inference_view.choose_images()

    def start(self, data_dir: str | None = None, checkpoint: str | None = None) -> None:
        """What the app opens with: the given folder or the demo; the given or the last checkpoint."""
        self.open_dataset(data_dir)
        if checkpoint is None:
            last = str(settings().value("last_checkpoint", "") or "")
            checkpoint = last if last and Path(last).is_file() else None
        if checkpoint:
            self.inference_view.load_checkpoint(checkpoint)

    # --- drops anywhere ---------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        folders = [p for p in paths if Path(p).is_dir()]
        ckpts = [p for p in paths if is_checkpoint_file(p) and Path(p).is_file()]
        images = [p for p in paths if p not in folders and p not in ckpts]
        if folders:
            self.open_dataset(folders[0])
            self.tabs.setCurrentIndex(DATASET_TAB)
        if ckpts:
            self.open_checkpoint(ckpts[-1])
        if images:
            self.tabs.setCurrentIndex(CLASSIFY_TAB)
            self.inference_view.classify(images)
        if not paths:
            self.show_error("Only local files and folders can be dropped here.")
        event.acceptProposedAction()

    # --- errors, about ----------------------------------------------------------------------------
    def show_error(self, text: str, details: str = "") -> None:
        self.message.show_message(text, "error", details)

    def show_about(self) -> None:
        import torch
        import torchvision

        device = self.devices.get("auto") or "still detecting…"
        QMessageBox.about(
            self,
            "About ResNet GUI",
            f"<h3>ResNet GUI {__version__}</h3>"
            "<p>Train ResNet image classifiers on your own folders and classify images by dropping them.</p>"
            f"<table>"
            f"<tr><td>PyTorch</td><td>{torch.__version__}</td></tr>"
            f"<tr><td>torchvision</td><td>{torchvision.__version__}</td></tr>"
            f"<tr><td>Qt / PySide6</td><td>{qVersion()} / {pyside_version}</td></tr>"
            f"<tr><td>Python</td><td>{platform.python_version()}</td></tr>"
            f"<tr><td>Device</td><td>{device}</td></tr>"
            f"</table>",
        )

    # --- settings and shutdown --------------------------------------------------------------------
    def _restore_geometry(self) -> None:
        geometry = settings().value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 820)
        tab = settings().value("window/tab")
        if tab is not None:
            self.tabs.setCurrentIndex(int(tab))

    def shutdown(self) -> None:
        """Stop every background job and wait for its thread. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        s = settings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/tab", self.tabs.currentIndex())
        self.training_view.save_settings()
        self.training_view.shutdown()
        self.dataset_view.shutdown()
        self.inference_view.shutdown()
        self.model_view.shutdown()
        if self._export_dialog is not None:
            self._export_dialog.shutdown()
        self._device_worker.join()

    def _confirm_stop_training(self) -> bool:
        answer = QMessageBox.question(
            self,
            "Training is running",
            "Stop training and quit?\n\nThe checkpoints saved so far are kept; "
            "you can continue the run later.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def is_busy(self) -> bool:
        return self.training_view.is_running() or self.dataset_view.is_busy() or self.inference_view.is_busy()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.training_view.is_running() and not self._closed:
            if self.confirm_close_mid_run and not self._confirm_stop_training():
                event.ignore()
                return
            self.status_label.setText("Stopping training…")
        self.shutdown()
        super().closeEvent(event)
