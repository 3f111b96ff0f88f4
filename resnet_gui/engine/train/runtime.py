"""Training in its own process: `TrainingProcess(config, on_event).run(stop)` in place of `train(...)`.

Why a child process: a crash in native code (a segfault in a codec, the kernel's OOM killer, a CUDA
fault) takes down only the child, and the app reports it as a RunFailed and lives on; the child can
fork DataLoader workers (it runs no Qt threads) and runs at a lower priority than the window.

The child is a fresh interpreter, `python -m resnet_gui.engine.train.child` via subprocess.Popen, not
multiprocessing: nothing is pickled or re-imported from the parent's `__main__`, the pipes are plain
stdin/stdout/stderr, a death shows up as a return code (negative = the signal) and the same command line
can later run under `torch.distributed.run` for several GPUs. It gets its own session (process group),
so a terminal's Ctrl+C reaches only the parent (which asks the child to stop) and `kill()` takes its
DataLoader workers down with it.

Protocol (engine/train/child.py): the config goes in as the first JSON line on stdin, `{"cmd": "stop"}`
lines follow; stdout says `ready` once torch is imported, then every event comes back as one JSON line,
then one `result` or `error` line;
stderr carries the child's logging, re-logged here under the same logger names, and its last lines go
into the message when it dies.

Events reach `on_event` in order, on the thread that calls `run()`, `wait()` or `poll_events()`.

`nproc > 1` (several GPUs): the child is PyTorch's elastic launcher running N ranks of the child module
(DDP, engine/train/distributed.py); the config goes in as a file (every rank reads it; they all share the
launcher's stdin), rank 0 speaks the protocol and reads the stop command, and `kill()` also reaches the
ranks (each runs in a session of its own). `launch()` then waits for `start()`: the config is needed first.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import resnet_gui
from resnet_gui.engine import errors
from resnet_gui.engine.config import TrainConfig, TrainResult
from resnet_gui.engine.events import RunFailed, RunFinished, RunStarted, event_from_json, from_plain
from resnet_gui.engine.fileio import atomic_write_bytes

log = logging.getLogger(__name__)

EventSink = Callable[[object], None]

#: Seconds a child gets to end after Stop (it saves `last` first) before it is killed.
STOP_GRACE_S = 10.0
#: How many of the child's last stderr lines a RunFailed message carries.
STDERR_TAIL = 20
#: After the child exited, how long to wait for its pipes to close (forked DataLoader workers hold them
#: until they notice their parent is gone).
PIPE_DRAIN_S = 2.0
_POLL_S = 0.05
_CHILD_LOGGER = "resnet_gui.engine.train.child"
_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_POSIX = os.name == "posix"


class TrainingProcess:
    """One training run in a child process.

    `run(stop)` is the blocking call with `train()`'s shape. Or drive it yourself: `start()`, then
    `wait(timeout)` / `poll_events()` (these deliver the events), `stop()`, `kill()`, and read `result`
    or `error` once `wait()` returned True. `launch()` first (config and on_event may be set later, as
    attributes) hides the interpreter's start-up: torch is imported before the config is needed.
    """

    def __init__(
        self,
        config: TrainConfig | None = None,
        on_event: EventSink | None = None,
        *,
        grace_s: float = STOP_GRACE_S,
        niceness: int = 5,
        python: str = sys.executable,
        nproc: int = 1,
    ):
        self.config = config
        self.nproc = nproc  # training processes (DDP ranks); > 1 runs them through the elastic launcher
        self._config_path: str | None = None
        self.on_event = on_event or (lambda _e: None)
        self.grace_s = grace_s
        self.niceness = niceness
        self.python = python
        self.result: TrainResult | None = None
        self.error: errors.EngineError | None = None
        self._proc: subprocess.Popen | None = None
        self._started = False
        self.ready = threading.Event()  # set once the child has imported the engine (torch)
        self._messages: queue.Queue = queue.Queue()
        self._stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)
        self._readers: list[threading.Thread] = []
        self._lock = threading.Lock()  # stdin writes, stop/kill bookkeeping
        self._pump_lock = threading.Lock()
        self._stops = 0
        self._kill_reason: str | None = None
        self._timer: threading.Timer | None = None
        self._final: dict | None = None  # the child's last line: {"result": ...} or {"error": ...}
        self._final_at: float | None = None
        self._finished: TrainResult | None = None  # from RunFinished, should the last line never come
        self._held_failure: RunFailed | None = None
        self._stdout_closed = False
        self._exited_at: float | None = None
        self._done = False
        self._run_dir: str | None = None

    # -- control ------------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def launch(self) -> None:
        """Start the interpreter now; it imports torch (seconds) and waits for its config. Call this early
        (e.g. when the Train view opens) and `start()` later: the run then begins without that wait."""
        if self._proc is not None or (self.nproc > 1 and self.config is None):
            return  # several processes read their config from a file: launched by start()
        env = dict(os.environ)
        root = str(Path(resnet_gui.__file__).resolve().parents[1])  # importable from any working folder
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        kwargs: dict = {"start_new_session": True} if _POSIX else {}
        if not _POSIX:
            kwargs["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        level = logging.getLogger("resnet_gui").getEffectiveLevel()
        argv = [
            "-m",
            "resnet_gui.engine.train.child",
            "--niceness",
            str(self.niceness),
            "--log-level",
            str(level),
        ]
        command = [self.python, *argv]
        if self.nproc > 1:
            command = self._launcher_command(argv[2:], env)
        try:
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                **kwargs,
            )
        except OSError as exc:
            raise errors.RunCrashed(f"could not start the training process: {exc.strerror or exc}") from exc
        for target, name in ((self._read_stdout, "train-stdout"), (self._read_stderr, "train-stderr")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._readers.append(t)

    def start(self) -> None:
        """Launch the child (unless `launch()` did) and hand it `config`: the run begins. Returns at once."""
        if self._started:
            raise RuntimeError("this TrainingProcess was already started")
        if self.config is None:
            raise ValueError("TrainingProcess.start() needs a config")
        self._started = True
        self.launch()
        if self.nproc == 1:
            self._send({"config": self.config.to_json()})

    def _launcher_command(self, child_args: list[str], env: dict) -> list[str]:
        """The elastic launcher running `nproc` ranks of the child, the config in a file."""
        import tempfile

        from resnet_gui.engine.train.launch import launcher_command

        assert self.config is not None
        fd, self._config_path = tempfile.mkstemp(prefix="resnet-gui-config-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"config": self.config.to_json()}, fh)
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // self.nproc)))
        args = ["--config", self._config_path, *child_args]
        return launcher_command(self.nproc, "resnet_gui.engine.train.child", args, self.python)

    def stop(self) -> None:
        """Ask the child to stop (it ends within one batch and saves `last`); a second call kills it, and so
        does the child still running `grace_s` after the first."""
        with self._lock:
            self._stops += 1
            first = self._stops == 1
        if not self.is_running():
            return
        if not self._started:  # a launched spare: nothing to save
            self.kill(reason="stopped before it was given a config")
            return
        if not first:
            self.kill(reason="Stop was pressed twice")
            return
        self._send({"cmd": "stop"})
        self._timer = threading.Timer(self.grace_s, self._kill_if_running)
        self._timer.daemon = True
        self._timer.start()

    def kill(self, reason: str = "killed on request") -> None:
        """End the child (and its DataLoader workers) at once. Checkpoints on disk stay loadable.
        Also the way to discard a `launch()`ed interpreter that will not be used."""
        proc = self._proc
        if proc is None:
            return
        with self._lock:
            if self._kill_reason is None and proc.poll() is None:
                self._kill_reason = reason
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
            if _POSIX and self.nproc > 1:
                from resnet_gui.engine.train.launch import kill_tree

                kill_tree(proc.pid)  # the launcher, and each rank's own session
            elif _POSIX:
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: the workers go too
            else:
                proc.kill()

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def wait(self, timeout: float | None = None) -> bool:
        """Deliver events until the run is over (True) or `timeout` seconds passed (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            self._pump(min(_POLL_S, left) if left is not None else _POLL_S)
        return True

    def poll_events(self) -> bool:
        """Deliver the events that have arrived, without blocking; True once the run is over."""
        self._pump(0.0)
        return self._done

    def run(self, stop: threading.Event | None = None) -> TrainResult:
        """Start (if needed), deliver events, pass `stop` on to the child; return its TrainResult.

        Raises the child's EngineError (same class and message) or RunCrashed when it died. Ctrl+C here
        (KeyboardInterrupt) asks the child to stop; a second one kills it and is re-raised.
        """
        if not self._started:
            self.start()
        interrupted = False
        while True:
            try:
                while not self.wait(0.1):
                    if stop is not None and stop.is_set() and self._stops == 0:
                        self.stop()
                break
            except KeyboardInterrupt:
                if interrupted:
                    self.kill(reason="interrupted")
                    raise
                interrupted = True
                self.stop()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result

    # -- the parent's side of the pipes -------------------------------------------------------------

    def _send(self, message: dict) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            return
        with self._lock, contextlib.suppress(OSError, ValueError):  # the child is gone: its exit says why
            proc.stdin.write((json.dumps(message) + "\n").encode("utf-8"))
            proc.stdin.flush()

    def _kill_if_running(self) -> None:
        if self.is_running():
            log.warning("the training process did not stop within %.0f s: killing it", self.grace_s)
            self.kill(reason=f"it did not stop within {self.grace_s:g} s of Stop")

    def _read_stdout(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for raw in self._proc.stdout:
            try:
                msg = json.loads(raw)
                if "event" in msg:
                    self._messages.put(("event", event_from_json(msg["event"])))
                elif "ready" in msg:
                    self.ready.set()
                else:
                    self._messages.put(("final", msg))
            except (ValueError, TypeError, KeyError) as exc:
                log.warning("unreadable line from the training process (%s): %r", exc, raw[:200])
        self._messages.put(("eof", None))

    def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for raw in self._proc.stderr:
            line = raw.decode("utf-8", errors="replace").rstrip()
            if not line:
                continue
            self._stderr_tail.append(line)
            level, _, rest = line.partition(" ")
            name, sep, text = rest.partition(": ")
            if level in _LEVELS and sep and name.startswith("resnet_gui") and " " not in name:
                logging.getLogger(name).log(_LEVELS[level], "%s", text)  # as if it were logged here
            else:
                logging.getLogger(_CHILD_LOGGER).debug("%s", line)

    def _pump(self, timeout: float) -> None:
        with self._pump_lock:
            if self._done:
                return
            try:
                kind, item = (
                    self._messages.get(timeout=timeout) if timeout > 0 else self._messages.get_nowait()
                )
                while True:
                    self._handle(kind, item)
                    kind, item = self._messages.get_nowait()
            except queue.Empty:
                pass
            if self._over():
                self._finish()

    def _handle(self, kind: str, item) -> None:
        if kind == "event":
            if isinstance(item, RunStarted):
                self._run_dir = item.out_dir
            if isinstance(item, RunFinished):
                self._finished = item.result
            if isinstance(item, RunFailed):  # held: the last line says whether it is the whole story
                self._held_failure = item
                return
            try:
                self.on_event(item)
            except BaseException:
                self.stop()  # the listener broke: end the run cleanly, then let the caller see why
                raise
        elif kind == "final":
            self._final, self._final_at = item, time.monotonic()
        elif kind == "eof":
            self._stdout_closed = True

    def _over(self) -> bool:
        """Everything the child will say has been read (or it died and its pipes stay open too long)."""
        proc = self._proc
        if proc is None:
            return False
        if proc.poll() is None:
            if self._final_at is not None and time.monotonic() - self._final_at > self.grace_s:
                self.kill(reason="it did not exit after its last message")  # the result is kept
            return False
        if self._exited_at is None:
            self._exited_at = time.monotonic()
        if self._stdout_closed or (self._final is not None and self._messages.empty()):
            return True
        return time.monotonic() - self._exited_at > PIPE_DRAIN_S

    def _finish(self) -> None:
        assert self._proc is not None
        if self._timer is not None:
            self._timer.cancel()
        for t in self._readers[1:]:  # stderr: its last lines belong in the message
            t.join(PIPE_DRAIN_S)
        rc = self._proc.returncode
        final = self._final or {}
        if "result" in final:
            self.result = from_plain(TrainResult, final["result"])
        elif not final and self._finished is not None:  # died on its way out, after the run was over
            log.warning("the training process ended badly (%s) after finishing its run", describe_exit(rc))
            self.result = self._finished
        else:
            err = final.get("error") or {}
            if err.get("engine"):
                self.error = _engine_error(err.get("type", ""), err.get("message", ""))
                self._deliver(self._held_failure or RunFailed(str(self.error)))
            else:
                self.error = self._crash(rc, err.get("message"))
                self._deliver(RunFailed(str(self.error)))
                _mark_run_failed(self._run_dir, str(self.error))
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        if self._config_path:
            with contextlib.suppress(OSError):
                os.unlink(self._config_path)
        self._done = True

    def _deliver(self, event: object) -> None:
        try:
            self.on_event(event)
        except Exception:
            log.exception("on_event failed on %r", event)

    def _crash(self, rc: int | None, message: str | None) -> errors.RunCrashed:
        tail = list(self._stderr_tail)
        if self._kill_reason is not None:
            head = f"training process killed: {self._kill_reason}"
        elif message:
            head = f"training process died: {message}"
        else:
            head = f"training process died: {describe_exit(rc)}"
        text = head + ("\n" + "\n".join(tail) if tail else "")
        return errors.RunCrashed(
            text, returncode=rc, stderr_tail=tail, on_request=self._kill_reason is not None
        )


def describe_exit(returncode: int | None) -> str:
    """`-9` -> "killed by signal 9 (SIGKILL)"; `1` -> "exited with code 1"."""
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown signal"
        hint = " - out of memory? (the kernel's OOM killer sends it)" if -returncode == 9 else ""
        return f"killed by signal {-returncode} ({name}){hint}"
    if returncode == 0:
        return "exited without a result"
    return f"exited with code {returncode}"


def _engine_error(type_name: str, message: str) -> errors.EngineError:
    """The child's EngineError as the same class (when it takes one message), else EngineError."""
    cls = getattr(errors, type_name, None)
    if isinstance(cls, type) and issubclass(cls, errors.EngineError) and cls.__init__ is Exception.__init__:
        return cls(message)
    return errors.EngineError(message)


def _mark_run_failed(run_dir: str | None, message: str) -> None:
    """The dead child left its run.json saying "running": say what happened instead (best effort)."""
    if not run_dir:
        return
    from resnet_gui.engine.runs import RUN_FILE

    path = Path(run_dir) / RUN_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("status") != "running":
            return
        record.update(status="failed", error=message.splitlines()[0])
        atomic_write_bytes(path, json.dumps(record, indent=1, default=str).encode())
    except (OSError, ValueError, AttributeError) as exc:
        log.debug("could not mark %s as failed: %s", path, exc)
