"""Where the Train tab's runs happen: each in a child process (engine/train/runtime.py) that a Worker
thread (ui/workers.py) follows, with the next run's child started ahead. The view only draws.

`TrainRunner.start(config)` hands back the run's Worker (the view connects its signals, then starts
it); `stop()` sets the stop flag, which reaches the child (it ends within one batch and keeps its
checkpoints), and called again (Force stop) kills the child; `shutdown()` ends it all (window closing).

Most of a fresh child's start is importing torch (seconds). `SpareProcess.prepare()` launches one that
imports the engine and waits for its config; `take()` hands it to the next run and `prepare()`, called
once that run has started, launches the next. A spare that died meanwhile is replaced by a fresh child;
one still importing torch is used as it is (it is ahead of a fresh one). `close()` kills the spare and
waits for it: no process outlives the window. Called on the GUI thread; the launch itself runs on a
short-lived thread, and only `shutdown()` waits for long (for the run to end).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from resnet_gui.ui import jobs
from resnet_gui.ui.workers import Worker

if TYPE_CHECKING:
    from resnet_gui.engine.config import TrainConfig
    from resnet_gui.engine.train.runtime import TrainingProcess

log = logging.getLogger(__name__)


#: The Stop button's tooltip: first click (False) or Force stop (True)
STOP_TIPS = {
    False: "Stop after the current batch; the best checkpoint so far is kept (Ctrl+.)",
    True: "End the training process now; the checkpoints saved so far are kept",
}


class TrainRunner:
    """One run at a time: its Worker, its child process (None when training in this process) and the
    spare for the next run."""

    def __init__(self) -> None:
        self.spare = SpareProcess()
        self.worker: Worker | None = None
        self.process: TrainingProcess | None = None
        self.force_stopped = False  # Force stop was pressed: the child is being killed

    def is_running(self) -> bool:
        return self.worker is not None and self.worker.is_running()

    @property
    def stopping(self) -> bool:
        return self.worker is not None and self.worker.stopping

    def can_force_stop(self) -> bool:
        return self.is_running() and self.stopping and self.process is not None and not self.force_stopped

    def start(self, config: TrainConfig, nproc: int = 1) -> Worker:
        """The Worker of a run of `config` in the spare child (`nproc` > 1: N fresh ranks, one per GPU);
        not started yet (connect its signals first)."""
        if self.worker is not None:
            self.worker.join()  # the last run has ended; make sure its thread has too
        self.process = self.spare.take() if nproc == 1 else None  # None: a fresh child, or in this process
        self.force_stopped = False
        if nproc > 1:
            from resnet_gui.engine.train.runtime import TrainingProcess

            self.process = TrainingProcess(nproc=nproc)
        self.worker = Worker(jobs.train_in_background, config, process=self.process, nproc=nproc)
        return self.worker

    def stop(self) -> str | None:
        """ "stop": the stop flag is set (the run ends within one batch); "force": the child is killed
        (the second call); None: nothing to do (not running, in-process, or already killed)."""
        if self.worker is None or not self.is_running():
            return None
        if not self.worker.stopping:
            self.worker.stop()
            return "stop"
        if self.can_force_stop():
            assert self.process is not None
            self.force_stopped = True
            self.process.kill(reason="Force stop was pressed")
            return "force"
        return None

    def run_started(self) -> None:
        """The run's child is busy now (RunStarted): the next one starts importing."""
        self.spare.prepare()

    def run_ended(self) -> None:
        """The Worker finished: its thread is joined, and a spare waits for the next run (the run may have
        ended before it started one: a bad dataset, say)."""
        if self.worker is not None:
            self.worker.join()  # returns at once: the run is over, its thread is exiting
        self.process = None
        self.spare.prepare()

    def shutdown(self) -> None:
        """Kill the spare; stop the run and wait for its thread (and so its child) to end."""
        self.spare.close()
        if self.worker is not None:
            self.worker.stop_and_join()


class SpareProcess:
    """Holds at most one unused TrainingProcess, launched on a short-lived thread: starting an
    interpreter (a fork and exec of this big process) takes 1-25 ms, too long for the GUI thread."""

    def __init__(self) -> None:
        self._spare: TrainingProcess | None = None
        self._launcher: threading.Thread | None = None  # launching `_spare`, ending the one before it
        self._closed = False

    @property
    def spare(self) -> TrainingProcess | None:
        return self._spare

    def prepare(self) -> None:
        """Launch a spare unless one is waiting or on its way (or training runs in this process, or closed)."""
        if self._closed or not jobs.RUN_IN_CHILD:
            return
        if self._spare is not None and (self._launching() or self._spare.is_running()):
            return
        from resnet_gui.engine.train.runtime import TrainingProcess

        old, self._spare = self._spare, TrainingProcess()
        self._launcher = threading.Thread(
            target=_launch, args=(self._spare, old), name="spare-training-process", daemon=True
        )
        self._launcher.start()

    def take(self) -> TrainingProcess | None:
        """The process for the next run: the spare when it lives, else a fresh (not yet launched) one;
        None when training runs in this process (`jobs.RUN_IN_CHILD` off)."""
        if not jobs.RUN_IN_CHILD:
            return None
        self._join()  # a launch still under way takes milliseconds
        spare, self._spare = self._spare, None
        if spare is not None and spare.is_running():
            return spare
        from resnet_gui.engine.train.runtime import TrainingProcess

        if spare is not None:
            log.info("the spare training process had ended: starting a fresh one")
            _end(spare)
        return TrainingProcess()

    def close(self) -> None:
        """Kill the spare and wait for it (window closing); no spare is launched after this."""
        self._closed = True
        self._join()
        spare, self._spare = self._spare, None
        if spare is not None:
            _end(spare)

    def _launching(self) -> bool:
        return self._launcher is not None and self._launcher.is_alive()

    def _join(self) -> None:
        if self._launcher is not None:
            self._launcher.join()
            self._launcher = None


def _launch(proc: TrainingProcess, old: TrainingProcess | None) -> None:
    """On the launcher thread: end the spare that died, start the new one's interpreter."""
    from resnet_gui.engine.errors import EngineError

    if old is not None:
        log.info("the spare training process had ended: starting another")
        _end(old)
    try:
        proc.launch()
    except EngineError as exc:  # take() then hands out a fresh one, whose run reports the reason
        log.warning("could not start a spare training process: %s", exc)


def _end(proc: TrainingProcess) -> None:
    proc.kill(reason="a spare that was not needed")
    proc.wait(5)  # reaps it and lets its pipe readers end; a killed process is gone in ~0.1 s
