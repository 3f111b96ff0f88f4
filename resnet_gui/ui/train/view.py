"""Train tab: the settings form on the left; progress, live curves, the epoch log and the result on the right.

Start asks the form (ui/train/form.py) for an engine `TrainConfig` and hands it to the runner
(ui/train/runner.py: a child process, started ahead, that a Worker thread follows); every engine event
arrives here as a signal and only moves a widget. Stop reaches the child (it ends within one batch);
pressed again (Force stop) it kills the child. A child that died is a failed run: the window lives on
and the best checkpoint so far is offered.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from resnet_gui.engine import events as ev
from resnet_gui.engine.config import arch_label
from resnet_gui.engine.errors import RunCrashed
from resnet_gui.format import fmt_duration, fmt_pct
from resnet_gui.ui.common import MessageBar, button, default_runs_dir, error_text, hrow, mono_font
from resnet_gui.ui.state import AppState
from resnet_gui.ui.train import log_lines
from resnet_gui.ui.train.eval_results import EvalResultsPanel, evaluation_sizes
from resnet_gui.ui.train.form import TrainForm
from resnet_gui.ui.train.lr_finder import LrFinder
from resnet_gui.ui.train.plots import TrainingPlots
from resnet_gui.ui.train.result_box import ResultBox
from resnet_gui.ui.train.run_compare import RunCompareBar
from resnet_gui.ui.train.runner import STOP_TIPS, TrainRunner

if TYPE_CHECKING:
    from resnet_gui.engine.config import TrainConfig, TrainResult
    from resnet_gui.engine.evaluate import EvalResult
    from resnet_gui.ui.jobs import ScanResult


REVEAL_DELAY_MS = 30  # between the end-of-run steps: the first one's repaint comes in between


class TrainingView(QWidget):
    """The Train tab."""

    busy = Signal(str)  # status-bar text; "" when idle
    engine_event = Signal(object)  # every engine event, after the view has drawn it
    running_changed = Signal(bool)
    run_finished = Signal(object)  # TrainResult, or None when the run failed or was force-stopped
    use_checkpoint = Signal(str)  # "Use in Classify"
    open_in_classify = Signal(list, str)  # images from the Evaluation panel, the evaluated checkpoint
    error = Signal(str)

    def __init__(
        self, state: AppState | None = None, runs_dir: str | Path | None = None, parent: QWidget | None = None
    ):
        super().__init__(parent)
        self.state = state or AppState(self)
        self.runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()
        self.num_workers: int | None = None  # DataLoader workers; None lets the engine choose
        self.dataset: ScanResult | None = None  # what the next run trains on
        self.result: TrainResult | None = None  # last TrainResult
        self.checkpoints: dict[str, str] = {}  # kind -> path, from CheckpointSaved
        self._waiting_dataset: ScanResult | None = None  # opened mid-run: reaches the form when it ends
        self.runner = TrainRunner()  # the run's worker and child process, and the next run's spare
        self._ended_on_request = False  # the child was killed after Stop: a stopped run, not a failure
        self._shown = False
        self._config: TrainConfig | None = None
        self._run_result: TrainResult | None = None
        self._run_error: str | None = None
        self._start_epoch, self._steps, self._epochs = 0, 1, 1
        self._skipped = 0
        self._reveal_evaluation = False  # EvalDone came: the Evaluation tab opens when the run has ended
        self.form = TrainForm(self.state)
        self.lr_finder = LrFinder(self)  # Find LR… under the Learning rate field (ui/train/lr_finder.py)
        self.dataset_label = QLabel("No dataset open yet.")
        self.dataset_label.setWordWrap(True)
        self.start_button = button("Start training", self.start)
        self.start_button.setDefault(True)
        self.start_button.setShortcut(QKeySequence("Ctrl+Return"))
        self.start_button.setMinimumHeight(34)
        self.stop_button = button("Stop", self.stop)
        self.stop_button.setShortcut(QKeySequence("Ctrl+."))
        self.stop_button.setMinimumHeight(34)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button, 2)
        buttons.addWidget(self.stop_button, 1)

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.addWidget(self.form)
        lv.addWidget(self.dataset_label)
        lv.addLayout(buttons)
        lv.addStretch(1)
        left_scroll = QScrollArea()
        left_scroll.setWidget(left)
        left_scroll.setWidgetResizable(True)
        left_scroll.setFrameShape(QFrame.Shape.NoFrame)
        left_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        left_scroll.setMinimumWidth(left.minimumSizeHint().width() + 24)

        # right: progress, plots, result, log
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("Not started")
        self.progress.setTextVisible(True)
        self.speed_label = QLabel(" ")
        self.plots = TrainingPlots()
        self.compare = RunCompareBar(self.plots, self.runs_dir)
        self.results = EvalResultsPanel()
        self.results.error.connect(self._show_error)
        self.results.open_in_classify.connect(self.open_in_classify)
        self.message = MessageBar()

        self.result_box = ResultBox()
        self.result_box.use_button.clicked.connect(self._use_in_classify)
        self.result_box.folder_button.clicked.connect(self._show_folder)
        self.result_box.continue_button.clicked.connect(self.continue_training)

        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setFont(mono_font())
        self.log.setPlaceholderText("The log of each epoch appears here.")
        self.log.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

        top = QWidget()
        tv = QVBoxLayout(top)
        tv.setContentsMargins(0, 0, 0, 0)
        tv.addWidget(self.message)
        tv.addWidget(self.progress)
        tv.addLayout(hrow(self.speed_label, self.compare))
        tv.addWidget(self.plots, 1)
        tv.addWidget(self.result_box)
        self.bottom_tabs = QTabWidget()
        self.bottom_tabs.setDocumentMode(True)
        self.bottom_tabs.addTab(self.log, "Log")
        self.bottom_tabs.addTab(self.results, "Evaluation")
        right = self.right_split = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(top)
        right.addWidget(self.bottom_tabs)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 1)
        right.setSizes([520, 160])

        splitter = QSplitter()
        splitter.addWidget(left_scroll)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([360, 900])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self.state.dataset_changed.connect(self.set_dataset)
        if self.state.dataset is not None:
            self.set_dataset(self.state.dataset)
        self._update_enabled()

    # --- inputs from elsewhere --------------------------------------------------------------------
    @Slot(object)
    def set_dataset(self, result: ScanResult) -> None:
        """A dataset was opened: the next run trains on it (a running run keeps its own until it ends)."""
        if self.is_running():
            self._waiting_dataset = result
            return
        self.dataset = result
        index = result.index
        name = "the demo dataset" if result.is_demo else Path(index.root).name
        self.dataset_label.setText(
            f"Dataset: <b>{name}</b> — {index.num_images:,} images, {len(index.classes)} classes"
        )
        self.form.set_dataset(result)
        self._update_enabled()

    def shown_run_data_dir(self) -> str | None:
        """The dataset of the run whose curves and result the tab shows (None: none shown)."""
        return self._config.data_dir if self._config is not None else None

    # --- enabling ---------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self.runner.is_running()

    def _update_enabled(self) -> None:
        running = self.is_running()
        self.form.setEnabled(not running)
        self.start_button.setEnabled(not running and self.dataset is not None)
        self.start_button.setToolTip("" if self.dataset is not None else "Open a dataset first (Dataset tab)")
        force = self.runner.can_force_stop()
        self.stop_button.setEnabled(force or (running and not self.runner.stopping))
        if self.stop_button.text() != (text := "Force stop" if force else "Stop"):
            self.stop_button.setText(text)
            self.stop_button.setShortcut(QKeySequence("Ctrl+."))  # setText clears it
        self.stop_button.setToolTip(STOP_TIPS[force])
        has_checkpoint = bool(self._best_checkpoint())
        self.result_box.set_enabled(
            running, has_checkpoint, has_checkpoint and self.result is not None and self.dataset is not None
        )

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._shown:  # the Train tab opened: a click on Start may follow, so start a child now
            self._shown = True
            self.runner.spare.prepare()

    # --- running ----------------------------------------------------------------------------------
    def build_config(self, **overrides: object) -> TrainConfig:
        """The TrainConfig the form describes for the open dataset (raises ValueError with a readable message)."""
        if self.dataset is None:
            raise ValueError("Open a dataset first (Dataset tab or File ▸ Open Dataset Folder).")
        return self.form.build_config(self.dataset.root, str(self.runs_dir), self.num_workers, **overrides)

    def start(self) -> None:
        """Start a new run with the form's settings."""
        if self.is_running():
            return
        try:
            config = self.build_config()
        except ValueError as exc:
            self._show_error(str(exc))
            return
        self.form.save_settings()
        self.plots.reset()
        self.log.clear()
        self._run(config)

    def continue_training(self) -> None:
        """N more epochs from the last run's saved state."""
        if self.is_running() or self._config is None or self.result is None:
            return
        resume = self.result.last_checkpoint or self._best_checkpoint()
        done = self.result.epochs or len(self.result.history)
        config = dataclasses.replace(
            self._config, resume=resume, epochs=done + self.result_box.more_epochs.value()
        )
        self._log(f"Continuing from {resume} for {self.result_box.more_epochs.value()} more epochs.")
        self._run(config)

    def _run(self, config: TrainConfig) -> None:
        self._config = config
        self._run_result = None
        self._run_error = None
        self._ended_on_request = False
        self._skipped = 0
        self._reveal_evaluation = False
        self.checkpoints = {}
        self.results.clear()
        self.message.hide()
        self.result_box.hide()
        self.progress.setValue(0)
        self.progress.setFormat("Starting…")
        self.speed_label.setText("Preparing data and model…")
        worker = self.runner.start(config, nproc=self.form.processes())
        worker.event.connect(self._on_event)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        worker.finished.connect(self._on_finished)
        worker.start()
        self._update_enabled()
        self.running_changed.emit(True)
        self.busy.emit("Training: starting…")

    def stop(self) -> None:
        """Ask the run to stop after the current batch; once stopping, kill its process (Force stop)."""
        what = self.runner.stop()
        if what == "stop":
            self.progress.setFormat(self.progress.format() + " — stopping…")
            self.busy.emit("Training: stopping after this batch…")
        elif what == "force":
            self._log("Force stop: ending the training process; the checkpoints saved so far are kept.")
            self.busy.emit("Training: ending the training process…")
        self._update_enabled()

    def shutdown(self) -> None:
        """Stop and join every thread, end every child process (window closing)."""
        self.runner.shutdown()
        self.form.shutdown()
        self.results.shutdown()
        self.lr_finder.shutdown()

    # --- engine events ----------------------------------------------------------------------------
    @Slot(object)
    def _on_event(self, e: object) -> None:
        if isinstance(e, ev.StepDone):
            self._on_step(e)
        elif isinstance(e, ev.EpochDone):
            self._on_epoch(e)
        elif isinstance(e, ev.RunStarted):
            self._on_started(e)
            self.runner.run_started()
        elif isinstance(e, ev.CheckpointSaved):
            self.checkpoints[e.kind] = e.path
            if e.kind == "best":
                self._log(log_lines.saved(e))
        elif isinstance(e, ev.ImageSkipped):
            self._skipped += 1
            self._log(f"  skipped {e.path}: {e.reason}")
            self.state.report_unreadable(e.path, e.reason)  # the Dataset tab lists it with its problems
        elif isinstance(e, ev.EvalStarted):
            self.progress.setFormat(f"Evaluating the best model on {e.num_images} validation images…")
        elif isinstance(e, ev.EvalDone):
            self._show_evaluation(e.result)
        elif isinstance(e, ev.RunFinished):
            self._run_result = e.result
        elif isinstance(e, ev.RunFailed):
            self._run_error = e.error
        self.result_box.note_event(e)
        self.engine_event.emit(e)

    def _on_started(self, e: ev.RunStarted) -> None:
        # start_epoch = epochs already done (0 for a fresh run); event epochs are 1-based
        self._start_epoch, self._epochs, self._steps = e.start_epoch, e.epochs, max(1, e.steps_per_epoch)
        for line in log_lines.started(e):
            self._log(line)
        self.compare.current_run = e.out_dir
        self.progress.setFormat(f"Epoch {e.start_epoch + 1}/{e.epochs}")
        self.speed_label.setText(f"{arch_label(e.arch)} on {e.device_name} · {e.img_size} px")

    def _progress_value(self, epoch: int, step: int) -> int:
        return log_lines.progress_permille(self._start_epoch, self._epochs, self._steps, epoch, step)

    def _on_step(self, e: ev.StepDone) -> None:
        self.plots.add_step(e.epoch - 1 + e.step / max(1, e.steps), e.loss)
        self.progress.setValue(self._progress_value(e.epoch, e.step))
        stopping = " — stopping…" if self.runner.stopping else ""
        self.progress.setFormat(f"Epoch {e.epoch}/{e.epochs} · step {e.step}/{e.steps}{stopping}")
        self.speed_label.setText(
            f"loss {e.loss:.3f} · {e.img_per_s:.0f} images/s · elapsed {fmt_duration(e.elapsed_s)} · "
            f"about {fmt_duration(e.eta_s)} left"
        )
        self.busy.emit(f"Training: epoch {e.epoch}/{e.epochs}, about {fmt_duration(e.eta_s)} left")

    def _on_epoch(self, e: ev.EpochDone) -> None:
        self.plots.add_epoch(e.epoch, e.train_loss, e.train_acc, e.val_loss, e.val_acc)
        self.progress.setValue(self._progress_value(e.epoch, self._steps))
        self._log(log_lines.epoch(e))

    @Slot(object)
    def _on_returned(self, result: TrainResult) -> None:
        self._run_result = result

    @Slot(object)
    def _on_errored(self, exc: BaseException) -> None:
        self._run_error = error_text(exc)
        self._ended_on_request = isinstance(exc, RunCrashed) and exc.on_request

    @Slot()
    def _on_finished(self) -> None:
        self.runner.run_ended()  # joins the thread (at once: it is exiting), starts the next spare
        # The end is drawn in two steps, each with its own repaint, so the GUI thread is never busy long:
        # first the plots (auto-range again), the result box and the splitter (one relayout of the plots);
        # then, a moment later, the Evaluation tab. `run_finished` comes once both are on screen.
        self.plots.stop_live()
        if self._reveal_evaluation:
            total, top = sum(self.right_split.sizes()), self.right_split.widget(0)
            self.right_split.setSizes(evaluation_sizes(total, top.minimumSizeHint().height()))
        result, error = self._run_result, self._run_error
        if result is not None and error is None:
            self.result = result
            self._show_result(result)
        else:
            self.result = None  # an earlier run's result must not stand for this one
            self._show_unfinished(error or "no result")
        if self._waiting_dataset is not None:  # opened during the run: the next run trains on it
            waiting, self._waiting_dataset = self._waiting_dataset, None
            self.set_dataset(waiting)
        self._update_enabled()
        self.running_changed.emit(False)
        self.busy.emit("")
        outcome = result if error is None else None
        if self._reveal_evaluation:
            self._reveal_evaluation = False
            QTimer.singleShot(REVEAL_DELAY_MS, lambda: self._open_evaluation(outcome))
        else:
            self.run_finished.emit(outcome)

    def _open_evaluation(self, outcome: TrainResult | None) -> None:
        if self.results.result is not None:  # (a new run started in the meantime clears it)
            self.bottom_tabs.setCurrentWidget(self.results)
        self.run_finished.emit(outcome)

    # --- result -----------------------------------------------------------------------------------
    def _best_checkpoint(self) -> str | None:
        from_result = self.result.checkpoint if self.result is not None else None
        return from_result or self.checkpoints.get("best")

    def _show_result(self, r: TrainResult) -> None:
        ckpt, ended = self._best_checkpoint(), "Stopped" if r.stopped else "Finished"
        self.progress.setValue(self.progress.value() if r.stopped else 1000)
        self.progress.setFormat("Stopped" if r.stopped else "Done")
        wall = fmt_duration(r.wall_s)
        self.speed_label.setText(f"{ended} after {wall}")
        self.result_box.show_result(r, ckpt)
        self.results.set_checkpoint(ckpt if self.result_box.usable else None)
        self._log(f"{ended} after {wall}; best val acc {fmt_pct(r.best_val_acc)}.")

    def _show_unfinished(self, error: str) -> None:
        """A run that ended without a result: killed after Stop (shown as stopped) or failed (its process
        died, or the engine refused it). The best checkpoint saved before that is offered."""
        ckpt = self.checkpoints.get("best")
        head, _, tail = error.partition("\n")  # a dead child's message ends with its last stderr lines
        if self._ended_on_request:
            self.progress.setFormat("Stopped")
            self.speed_label.setText("Stopped: the training process was ended")
            self._log(f"Stopped ({head}).")
        else:
            self._show_error(f"Training failed: {head}", tail)
            self.progress.setFormat("Failed")
            self.speed_label.setText("Training failed (see the message above and the log)")
        if ckpt:
            self.result_box.show_unfinished(self._ended_on_request, ckpt)
            self.results.set_checkpoint(ckpt if self.result_box.usable else None)

    def _show_evaluation(self, result: EvalResult) -> None:
        self.results.set_result(result)  # filled while hidden; shown when the run has ended
        self._reveal_evaluation = True
        self._log(log_lines.evaluated(result))

    def _show_error(self, text: str, details: str = "") -> None:
        """In the message bar (`details` behind its Details… button) and the log."""
        self.message.show_message(text, details=details)
        self._log(text + (f"\n{details}" if details else ""))
        self.error.emit(text)

    def _use_in_classify(self) -> None:
        ckpt = self._best_checkpoint()
        if ckpt:
            self.use_checkpoint.emit(ckpt)

    def _show_folder(self) -> None:
        ckpt = self._best_checkpoint()
        if ckpt:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(ckpt).parent)))

    def _log(self, text: str) -> None:
        self.log.appendPlainText(text)
