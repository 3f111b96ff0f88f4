"""Starting N training processes on this machine through PyTorch's elastic launcher (torch.distributed.run).

`resnet-gui train --nproc N` runs the launcher in its own process (`run_ranks`): it starts N ranks of
`python -m resnet_gui train ...` (the same arguments, without --nproc), forwards Ctrl+C / SIGTERM to each
of them (they stop together within one batch, rank 0 saves `last`) and returns rank 0's exit status. The
app's child process uses `launcher_command` instead (the launcher as a child of its own). Each rank runs
in its own session (the launcher's doing), so `kill_tree` finds them under the launcher to kill them.

Torch-free at import: the CLI parses its arguments before torch loads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = [
    "EXIT_FILE_ENV",
    "cuda_device_count",
    "kill_tree",
    "launcher_args",
    "launcher_command",
    "resolve_nproc",
    "run_ranks",
]

#: Rank 0 of a `run_ranks` launch writes its exit status to the file this variable names.
EXIT_FILE_ENV = "RESNET_GUI_EXIT_FILE"


def cuda_device_count() -> int:
    """CUDA devices here (imports torch)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_nproc(value: str | int) -> int:
    """`--nproc`: a number >= 1, or "auto" = one process per CUDA device (1 without CUDA)."""
    if str(value).strip().lower() == "auto":
        return max(1, cuda_device_count())
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"--nproc: expected a number or 'auto', got {value!r}") from None
    if n < 1:
        raise ValueError("--nproc must be at least 1")
    return n


def launcher_args(nproc: int, module: str, args: list[str]) -> list[str]:
    """torch.distributed.run's arguments for `nproc` local ranks of `python -m module args...`."""
    return ["--standalone", "--nproc-per-node", str(nproc), "-m", module, *args]


def launcher_command(nproc: int, module: str, args: list[str], python: str = sys.executable) -> list[str]:
    """The command line of the launcher as a process of its own (the app's training child)."""
    return [python, "-m", "torch.distributed.run", *launcher_args(nproc, module, args)]


def rank_environment(nproc: int) -> None:
    """Settings every rank inherits: its share of the cores for OpenMP (unless the user chose), which
    also keeps the launcher from warning that it picked 1."""
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))


def run_ranks(nproc: int, module: str, args: list[str], quiet: bool = True) -> int:
    """Run the launcher here, for `nproc` ranks of `python -m module args`; rank 0's exit status.

    `quiet`: the launcher's own log lines (its summary of a failed rank, the signal it forwarded) stay
    out of the way: rank 0 already said what happened, once.
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    rank_environment(nproc)
    if quiet:
        os.environ.setdefault("LOGLEVEL", "ERROR")
        logging.getLogger("torch.distributed").setLevel(logging.CRITICAL)
    fd, exit_file = tempfile.mkstemp(prefix="resnet-gui-exit-", suffix=".txt")
    os.close(fd)
    os.environ[EXIT_FILE_ENV] = exit_file
    try:
        try:
            run(parse_args(launcher_args(nproc, module, args)))
            code = 0
        except ChildFailedError as exc:
            failures = exc.failures
            first = failures.get(0) or failures[min(failures)]
            code = first.exitcode if first.exitcode > 0 else 128 - first.exitcode
        except SignalException as exc:  # the ranks got the signal too and stopped; 30 s, then killed
            code = 128 + int(exc.sigval)
        written = Path(exit_file).read_text().strip()
        return int(written) if written else code
    finally:
        os.environ.pop(EXIT_FILE_ENV, None)
        with contextlib.suppress(OSError):
            os.unlink(exit_file)


def record_exit(code: int) -> None:
    """Rank 0 of a `run_ranks` launch: leave its exit status for the launcher's caller."""
    path = os.environ.get(EXIT_FILE_ENV)
    if path and os.environ.get("RANK", "0") == "0":
        with contextlib.suppress(OSError):
            Path(path).write_text(str(code))


def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError, ValueError):
                out += [int(x) for x in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return out


def kill_tree(pid: int) -> None:
    """SIGKILL the process group of `pid` and of every process below it that leads a group of its own
    (launcher ranks each run in their own session, with their DataLoader workers)."""
    if os.name != "posix":
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
        return
    leaders, todo = [pid], [pid]
    while todo:
        for child in _children(todo.pop()):
            todo.append(child)
            with contextlib.suppress(OSError):
                if os.getpgid(child) == child:
                    leaders.append(child)
    for leader in leaders:
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
            os.killpg(leader, signal.SIGKILL)
