"""The main window: four tabs (Dataset, Train, Classify, Model), menus, status bar, drops and settings.

It creates the one app state (ui/state.py) and hands it to every view; the views follow it rather than
each other. What is left here is the window's own: menus, recent files, the status bar, drops anywhere,
the device probe and shutdown.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QByteArray, Slot, qVersion
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from resnet_gui import __version__
from resnet_gui.desktop import icon_path
from resnet_gui.ui import collector
from resnet_gui.ui.classify.view import InferenceView
from resnet_gui.ui.common import (
    CHECKPOINT_FILTER,
    MessageBar,
    is_checkpoint_file,
    settings,
)
from resnet_gui.ui.dataset.view import DatasetView
from resnet_gui.ui.jobs import probe_devices
from resnet_gui.ui.model.view import ModelView
from resnet_gui.ui.recent import fill_recent, remember
from resnet_gui.ui.runs.view import RunsView
from resnet_gui.ui.state import AppState
from resnet_gui.ui.train.view import TrainingView
from resnet_gui.ui.workers import LatestJob

if TYPE_CHECKING:
    from resnet_gui.ui.help import HelpDialog
    from resnet_gui.ui.jobs import ScanResult
    from resnet_gui.ui.model.export_dialog import ExportDialog

DATASET_TAB, TRAIN_TAB, CLASSIFY_TAB, MODEL_TAB = 0, 1, 2, 3
RUNS_TAB = 4


class MainWindow(QMainWindow):
    """Hands the app state to the four views; owns nothing but menus, the status bar and settings."""

    #: Closing mid-training asks first. Tests that close mid-run on purpose turn it off.
    confirm_close_mid_run = True

    def __init__(self, runs_dir: str | Path | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("ResNet GUI")
        self.setWindowIcon(QIcon(str(icon_path("png"))))  # resnet_gui/assets/icon.png (package data)
        self.setAcceptDrops(True)
        self.state = AppState(self)
        self._busy: dict[str, str] = {}
        self._closed = False
        self._export_dialog: ExportDialog | None = None
        self._help: HelpDialog | None = None
        self.latest_model: str | None = None  # the model trained or loaded last: what Export offers

        self.dataset_view = DatasetView(self.state)
        self.training_view = TrainingView(self.state, runs_dir=runs_dir)
        self.inference_view = InferenceView(self.state)
        self.model_view = ModelView(self.state)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.dataset_view, "Dataset")
        self.tabs.addTab(self.training_view, "Train")
        self.tabs.addTab(self.inference_view, "Classify")
        self.tabs.addTab(self.model_view, "Model")
        self.tabs.setTabToolTip(MODEL_TAB, "Layers, parameters and GFLOPs of the model (Ctrl+4)")
        self.tabs.setTabToolTip(DATASET_TAB, "What is in your image folder (Ctrl+1)")
        self.tabs.setTabToolTip(TRAIN_TAB, "Train a classifier on it (Ctrl+2)")
        self.tabs.setTabToolTip(CLASSIFY_TAB, "Drop images and see what the model says (Ctrl+3)")
        self.runs_view = RunsView(self.training_view.runs_dir)
        self.tabs.insertTab(RUNS_TAB, self.runs_view, "Runs")
        self.tabs.setTabToolTip(
            RUNS_TAB, "Every run in the runs folder: open, compare, rename, trash (Ctrl+5)"
        )
        self.message = MessageBar()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 0)
        layout.addWidget(self.message)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        self.status_label = QLabel("Ready")
        self.device_label = QLabel("Detecting device…")
        self.device_label.setToolTip(
            "The device training and classification use. On the CPU, the thread count is the most they "
            "use: each classified image runs on the cores other programs leave free (often fewer)."
        )
        self.statusBar().addWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(self.device_label)

        self.recent_menu = self._build_menus()
        self._connect()
        self._restore_geometry()
        self._device_probe = LatestJob(self)
        self._device_probe.start(probe_devices, on_done=self._on_devices, on_error=self._on_devices_failed)

    # --- menus ------------------------------------------------------------------------------------
    def _action(
        self,
        text: str,
        slot: Callable[..., object],
        shortcut: str | QKeySequence.StandardKey | None = None,
        tip: str = "",
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        return action

    def _build_menus(self) -> QMenu:
        """File, View and Help; returns File > Recent (filled each time it opens)."""
        bar = self.menuBar()
        file = bar.addMenu("&File")
        file.addAction(
            self._action("Open &Dataset Folder…", self.choose_folder, "Ctrl+O", "One subfolder per class")
        )
        file.addAction(self._action("Open De&mo Dataset", lambda: self.open_dataset(None)))
        file.addAction(self._action("Open &Checkpoint…", self.choose_checkpoint, "Ctrl+Shift+O"))
        file.addAction(self._action("Open &Images to Classify…", self._open_images, "Ctrl+I"))
        file.addAction(
            self._action("&Export Model…", self.export_model, "Ctrl+E", "Save as ONNX or TorchScript")
        )
        recent = file.addMenu("&Recent")
        recent.aboutToShow.connect(self._fill_recent)
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

        view.addAction(
            self._action("&Runs", lambda: self.tabs.setCurrentIndex(RUNS_TAB), "Ctrl+5", "The runs folder")
        )

        helpm = bar.addMenu("&Help")
        helpm.addAction(self._action("&Getting Started", lambda: self.show_help(0), "F1"))
        helpm.addAction(self._action("&Keyboard Shortcuts", lambda: self.show_help(1), "Ctrl+/"))
        helpm.addAction(self._action("&Documentation", lambda: self.show_help(2)))
        helpm.addSeparator()
        about = self._action("&About ResNet GUI", self.show_about)
        about.setMenuRole(QAction.MenuRole.AboutRole)
        helpm.addAction(about)
        return recent

    def _fill_recent(self) -> None:
        fill_recent(self.recent_menu, self.style(), self.open_dataset, self.open_checkpoint)

    # --- wiring -----------------------------------------------------------------------------------
    def _connect(self) -> None:
        d, t, i, m = self.dataset_view, self.training_view, self.inference_view, self.model_view
        self.state.dataset_changed.connect(self._on_dataset_changed)
        self.state.checkpoint_changed.connect(self._on_checkpoint_changed)
        t.use_checkpoint.connect(self.open_checkpoint)
        t.open_in_classify.connect(self.classify_with)
        t.running_changed.connect(self._on_training_running)
        t.run_finished.connect(self._on_run_finished)
        i.go_train.connect(lambda: self.tabs.setCurrentIndex(TRAIN_TAB))
        i.open_checkpoint_requested.connect(self.choose_checkpoint)
        m.export_requested.connect(self.export_model)
        self.state.retrain_requested.connect(self.retrain)  # the dataset check and Classify's feedback
        self._connect_runs()
        for name, view in (("dataset", d), ("train", t), ("classify", i)):
            view.busy.connect(lambda text, name=name: self._set_busy(name, text))

    def _connect_runs(self) -> None:
        r, t = self.runs_view, self.training_view
        r.open_checkpoint.connect(self.open_checkpoint)
        r.show_in_train.connect(self.show_run_in_train)
        r.busy.connect(lambda text: self._set_busy("runs", text))
        r.is_active = lambda path: t.is_running() and path == t.compare.current_run
        t.running_changed.connect(lambda _running: r.refresh() if r.isVisible() else r.update_buttons())

    def show_run_in_train(self, run_path: str) -> None:
        """The Train tab, with this run's curves overlaid (its "Compare with" choice)."""
        self.training_view.compare.choose(run_path)
        self.tabs.setCurrentIndex(TRAIN_TAB)

    def retrain(self) -> None:
        """Retrain after fixing the data: the Train tab, a new run with its current settings."""
        self.tabs.setCurrentIndex(TRAIN_TAB)
        self.activateWindow()
        self.training_view.start()

    def _set_busy(self, name: str, text: str) -> None:
        if text:
            self._busy[name] = text
        else:
            self._busy.pop(name, None)
        self.status_label.setText("   |   ".join(self._busy.values()) or "Ready")

    @Slot(object)
    def _on_dataset_changed(self, result: ScanResult) -> None:
        self.setWindowTitle(f"{'Demo dataset' if result.is_demo else Path(result.root).name} — ResNet GUI")
        if not result.is_demo:
            settings().setValue("last_folder", result.root)
            remember("recent/folders", result.root)

        self._note_stale_run(result)

    def _note_stale_run(self, result: ScanResult) -> None:
        """The Train tab still shows the last run's curves: say they are from another folder."""
        tv = self.training_view
        shown = tv.shown_run_data_dir()
        if shown is None or tv.is_running() or Path(shown).resolve() == Path(result.root).resolve():
            return
        name = "the demo dataset" if result.is_demo else Path(result.root).name
        tv.message.show_message(
            f"The curves and results below are from the last run, on {Path(shown).name}. "
            f"Start training trains on {name}.",
            "info",
        )

    @Slot(object)
    def _on_run_finished(self, result: object) -> None:
        """A run that produced a model: it is what Export offers next (until another is loaded); and the
        "added since the last training" badge (Classify's feedback) restarts."""
        from resnet_gui.ui.classify.feedback import mark_trained

        ckpt = getattr(result, "checkpoint", None)
        if ckpt and self.training_view.result_box.usable:
            self.latest_model = ckpt
        if result is not None and self.state.dataset is not None:
            mark_trained(self.state.dataset.root)

    @Slot(str)
    def _on_checkpoint_changed(self, path: str) -> None:
        self.latest_model = path
        settings().setValue("last_checkpoint", path)
        remember("recent/checkpoints", path)

    @Slot(bool)
    def _on_training_running(self, running: bool) -> None:
        self.tabs.setTabText(TRAIN_TAB, "Train ●" if running else "Train")

    def _on_devices(self, names: dict[str, str | None]) -> None:
        if self._closed:  # the probe outlived the window: start nothing more
            return
        collector.freeze_imported()  # torch and the engine are imported now, for good
        self.device_label.setText(f"Device: {names.get('auto') or 'CPU'}")
        self.state.set_devices(names)  # the Train form names them and measures the architectures

    def _on_devices_failed(self, exc: BaseException) -> None:
        self.device_label.setText("Device: unknown")
        self.show_error(f"Could not load PyTorch: {exc}")

    # --- opening things ---------------------------------------------------------------------------
    def choose_folder(self) -> None:
        """File > Open Dataset Folder… (Ctrl+O, from any tab): the Dataset tab, then its folder dialog."""
        self.tabs.setCurrentIndex(DATASET_TAB)
        self.dataset_view.choose_folder()

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
        ckpt = checkpoint if isinstance(checkpoint, str) and checkpoint else None
        ckpt = ckpt or self.latest_model or self.state.checkpoint
        self._export_dialog = ExportDialog(ckpt, self)
        self._export_dialog.open()

    def classify_with(self, paths: list[str], checkpoint: str) -> None:
        """Classify files in the Classify tab with `checkpoint` (loaded first unless it is already)."""
        if checkpoint and self.state.checkpoint != checkpoint:
            self.inference_view.load_checkpoint(checkpoint)
        self.tabs.setCurrentIndex(CLASSIFY_TAB)
        self.inference_view.classify(paths)

    def _open_images(self) -> None:
        self.tabs.setCurrentIndex(CLASSIFY_TAB)
        self.inference_view.choose_images()

    def start(self, data_dir: str | None = None, checkpoint: str | None = None) -> None:
        """What the app opens with: the given folder, else the last one when it still exists, else the
        demo; the given or the last checkpoint. A first launch points at the Train tab."""
        s = settings()
        first_launch = not s.value("window/launched", False, type=bool)
        s.setValue("window/launched", True)
        if data_dir is None:
            last = str(s.value("last_folder", "") or "")
            data_dir = last if last and Path(last).is_dir() else None
        self.open_dataset(data_dir)
        self.inference_view.cam.checkbox.setChecked(s.value("classify/gradcam", False, type=bool))
        if first_launch:
            self.message.show_message(
                "Welcome! This is a small demo dataset. Go to the <b>Train</b> tab (Ctrl+2) and press "
                "<b>Start training</b> to watch a model learn it; Help ▸ Getting Started (F1) has the rest.",
                "info",
            )
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

    def show_help(self, page: int = 0) -> None:
        """Help: Getting Started (0), Keyboard Shortcuts (1), Documentation (2), in one non-modal window."""
        from resnet_gui.ui.help import HelpDialog

        if self._help is None:
            actions = [a for menu in self.menuBar().findChildren(QMenu) for a in menu.actions()]
            self._help = HelpDialog(list(dict.fromkeys(actions)), self)
        self._help.show_page(page)

    def show_about(self) -> None:
        import torch
        import torchvision

        device = self.state.devices.get("auto") or "still detecting…"
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
        s.setValue("classify/gradcam", self.inference_view.cam.checkbox.isChecked())
        self.training_view.form.save_settings()
        self.training_view.shutdown()
        self.dataset_view.shutdown()
        self.inference_view.shutdown()
        self.model_view.shutdown()
        self.runs_view.shutdown()
        if self._export_dialog is not None:
            self._export_dialog.shutdown()
        self._device_probe.shutdown()

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
