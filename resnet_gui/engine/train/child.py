"""The training child process: `python -m resnet_gui.engine.train.child`, started by `runtime.TrainingProcess`.

Protocol, one JSON object per line (UTF-8), see docs in engine/train/runtime.py:

- argv: `--niceness N` (default 5: lower priority than the window) `--log-level L` (logging level number)
  `--config FILE` (the start message's config as a JSON file, instead of stdin's first line: with several
  processes every rank reads it; then every stdin line is a command).
- Several processes (the elastic launcher runs N ranks of this module, `TrainingProcess(nproc=N)`): rank 0
  speaks this protocol and reads the commands (a stop reaches the other ranks through the training loop's
  collective stop); the other ranks never write to stdout nor read stdin, and log warnings only.
- stdin: the first line is `{"config": TrainConfig.to_json()}`; later lines are commands, `{"cmd": "stop"}`.
  End of input (the parent closed the pipe or died) also means stop; before a config: exit quietly.
- stdout: `{"ready": true}` once the engine is imported; `{"event": event_to_json(e)}` for every engine
  event, in order, then exactly one last line:
  `{"result": TrainResult.to_json()}` or `{"error": {"type": "DatasetError", "message": "...", "engine": true}}`.
  Nothing else can write there: file descriptor 1 is pointed at stderr before the engine is imported, so
  a stray print() or a C library's output cannot tear the stream.
- stderr: logging (`LEVEL logger: message`, the CLI's format), warnings and tracebacks.
- exit status: 0 after a result, 1 after an error line, 2 when the start message is unusable.
  SIGINT and SIGTERM set the stop flag, as the stop message does.

The priority is lowered first, so the threads torch starts inherit it; torch is imported before the
config is read, so a launched interpreter can wait, warm, for its config (`TrainingProcess.launch()`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import traceback
from dataclasses import replace
from typing import BinaryIO

log = logging.getLogger(__name__)


class _Stream:
    """The protocol's write end: one JSON object per line, flushed at once, never interleaved.

    A parent that has gone away (broken pipe) sets the stop flag: the run ends cleanly, saving `last`."""

    def __init__(self, fh: BinaryIO, stop: threading.Event):
        self.fh = fh
        self.stop = stop
        self.lock = threading.Lock()
        self.broken = False

    def send(self, message: dict) -> None:
        data = (json.dumps(message, default=str) + "\n").encode("utf-8")
        with self.lock:
            if self.broken:
                return
            try:
                self.fh.write(data)
                self.fh.flush()
            except OSError:  # BrokenPipeError included: nobody is listening any more
                self.broken = True
                self.stop.set()


def _claim_stdout() -> BinaryIO:
    """A private copy of fd 1 for the protocol; fd 1 itself (and sys.stdout) then go to stderr."""
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(fd, "wb")


def _read_lines(fd: int):
    """Lines from a raw fd. Not sys.stdin: a daemon thread blocked inside its buffered reader can abort
    the interpreter at exit ("could not acquire lock for <stdin>")."""
    buf = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            if buf.strip():
                yield buf
            return
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield line


def _follow_commands(lines, stop: threading.Event) -> None:
    for line in lines:
        try:
            cmd = json.loads(line).get("cmd")
        except (ValueError, AttributeError):
            log.warning("ignored a malformed command line from the parent: %r", line[:200])
            continue
        if cmd == "stop":
            log.info("stop requested")
            stop.set()
        else:
            log.warning("ignored an unknown command from the parent: %r", cmd)
    stop.set()  # end of input: the parent is gone or wants us to finish


def _lower_priority(niceness: int) -> None:
    """Nice the main thread before torch starts its threads and DataLoader workers: they inherit it."""
    if niceness > 0 and hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(niceness)


def _error(exc: BaseException, engine: bool) -> dict:
    message = str(exc) if engine else f"{type(exc).__name__}: {exc}"
    return {"error": {"type": type(exc).__name__, "message": message, "engine": engine}}


def _options(argv: list[str]) -> tuple[int, int]:
    """`--niceness N --log-level L` (set by the parent; both optional)."""
    opts = {"--niceness": 5, "--log-level": logging.INFO}
    for flag, value in zip(argv[::2], argv[1::2], strict=False):
        if flag in opts:
            with contextlib.suppress(ValueError):
                opts[flag] = int(value)
    return opts["--niceness"], opts["--log-level"]


def _config_file(argv: list[str]) -> str | None:
    """`--config FILE`, if given."""
    for flag, value in zip(argv[::2], argv[1::2], strict=False):
        if flag == "--config":
            return value
    return None


def _rank() -> int:
    """This process's rank under the elastic launcher (0 outside one); read before torch is imported."""
    try:
        return int(os.environ.get("RANK", "0")) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else 0
    except ValueError:
        return 0


def main(argv: list[str]) -> int:
    stop = threading.Event()
    rank = _rank()
    out = _claim_stdout()
    if rank > 0:  # rank 0 speaks for the run
        out.close()
        out = open(os.devnull, "wb")  # noqa: SIM115 - lives as long as the process
    stream = _Stream(out, stop)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    niceness, log_level = _options(argv)
    if rank > 0:
        log_level = max(log_level, logging.WARNING)
    _lower_priority(niceness)
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)

    # The slow part of starting (torch, torchvision: seconds) comes before the config is read, so a
    # parent can launch the interpreter early and hand it the config when the user clicks Train.
    from resnet_gui.engine.config import TrainConfig
    from resnet_gui.engine.errors import EngineError
    from resnet_gui.engine.events import event_to_json
    from resnet_gui.engine.train.distributed import watch_parent
    from resnet_gui.engine.train.loop import train

    watch_parent()  # under a launcher: a killed launcher takes this rank with it
    stream.send({"ready": True})
    config_file = _config_file(argv)
    lines = _read_lines(0) if rank == 0 else iter(())
    first = None if config_file else next(lines, None)
    if first is None and not config_file:  # a spare interpreter that was never used
        return 0
    try:
        if config_file:
            with open(config_file, encoding="utf-8") as fh:
                first = fh.read()
        config = TrainConfig(**dict(json.loads(first)["config"]))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        stream.send(
            {"error": {"type": type(exc).__name__, "message": f"bad start message: {exc!r}", "engine": False}}
        )
        return 2
    if config.mp_context == "forkserver":  # the app's choice for a process with Qt threads; none run here
        config = replace(config, mp_context=None)
    if rank == 0:
        threading.Thread(target=_follow_commands, args=(lines, stop), name="commands", daemon=True).start()

    try:
        result = train(config, lambda e: stream.send({"event": event_to_json(e)}), stop)
    except EngineError as exc:
        stream.send(_error(exc, engine=True))
        return 1
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        stream.send(_error(exc, engine=False))
        return 1
    stream.send({"result": result.to_json()})
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    logging.shutdown()
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    # Everything is said and on disk (checkpoints are fsynced): skip the interpreter's teardown of torch
    # (about a second, measured) so the parent sees the exit at once.
    os._exit(code)
