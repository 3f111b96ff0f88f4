"""Atomic file I/O, the one home for it: a kill at any moment leaves the old file or the complete new one.

Temp files live in the target's folder (same file system, so `os.replace` is atomic), carry the writer's
pid, and are removed by `clean_stale_temp_files` once that process is gone. A run folder has one writer at
a time (`FolderLock`: an advisory `flock` on `<folder>/.resnet-gui.lock`, which the kernel drops when its
process dies, even by kill -9, so a killed run never leaves it stuck).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from resnet_gui.engine.errors import CheckpointError, EngineError

try:  # POSIX; elsewhere the lock falls back to a pid file checked for liveness
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` so that `path` is either the old file or the complete new one, never half of it."""
    atomic_write_many([(path, data)])


Payload = bytes | Callable[[str], None]  # the content, or a function that writes it to a path


def atomic_write_many(items: list[tuple[str | Path, Payload]]) -> None:
    """Write several files that belong together: every temp file is complete and fsynced before the first
    rename, so a kill leaves either the old set or the new set (or, in the microseconds between the
    renames, a mix that `--resume` detects by epoch). Temp names carry our pid (see clean_stale_temp_files).
    A payload is bytes, or a writer called with the temp file's path (safetensors' `save_file`).
    """
    temps: list[tuple[str, Path]] = []
    try:
        for path, data in items:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
            fd, tmp_name = tempfile.mkstemp(
                dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=TEMP_SUFFIX
            )
            temps.append((tmp_name, path))
            if callable(data):
                os.close(fd)
                data(tmp_name)
                fd = os.open(tmp_name, os.O_RDWR)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            else:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            os.chmod(tmp_name, mode)
        for tmp_name, path in temps:
            os.replace(tmp_name, path)
    except BaseException:
        for tmp_name, _ in temps:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
        raise
    for folder in {path.parent for _, path in temps}:
        _fsync_dir(folder)


TEMP_SUFFIX = ".tmp"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's) or cannot tell: leave its files alone
    return True


#: safetensors' `save_file` writes `<folder>/.tmpXXXXXX` (6 random characters) and renames it onto the
#: target: a kill inside it leaves that file, with no pid in its name.
_SAFETENSORS_TEMP = re.compile(r"^\.tmp[A-Za-z0-9_]{6}$")
#: Files that make a folder one of our run folders (only there are safetensors' temp files removed).
_RUN_FOLDER_MARKERS = ("run.json", "last.safetensors", "best.safetensors")


def _is_run_folder(folder: Path) -> bool:
    return any((folder / name).exists() for name in (*_RUN_FOLDER_MARKERS, LOCK_FILE))


def clean_stale_temp_files(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Remove temp files left by a writer that was killed; returns what was removed.

    Our own pattern ".<name>.<pid>.<random>.tmp" goes once its pid is gone. safetensors' own
    ".tmpXXXXXX" carries no pid: it goes from run folders (run.json, best/last or our lock inside) that
    no live process holds (`FolderLock`), or that this process holds. Files of a live writer are kept.
    """
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    folders = [folder]
    if recursive:  # one level down: the run folders inside an output folder
        with contextlib.suppress(OSError):
            folders += [p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()]
    for current in folders:
        try:
            entries = list(current.iterdir())
        except OSError:
            continue
        safetensors_temps = [p for p in entries if _SAFETENSORS_TEMP.match(p.name) and p.is_file()]
        if safetensors_temps and _is_run_folder(current) and not folder_locked(current, by_others=True):
            for tmp in safetensors_temps:
                _remove_temp(tmp, removed)
        for tmp in entries:
            if not (tmp.name.startswith(".") and tmp.name.endswith(TEMP_SUFFIX)):
                continue
            parts = tmp.name[: -len(TEMP_SUFFIX)].rsplit(".", 2)
            if len(parts) != 3 or not parts[1].isdigit() or _pid_alive(int(parts[1])):
                continue
            _remove_temp(tmp, removed)
    return removed


def _remove_temp(tmp: Path, removed: list[Path]) -> None:
    with contextlib.suppress(OSError):
        tmp.unlink()
        removed.append(tmp)
        log.info("removed %s, left by an interrupted save", tmp)


# ------------------------------------------------------------------------------------------ run folder lock

#: The lock file inside a run folder (hidden: never a class, never listed as a run's file).
LOCK_FILE = ".resnet-gui.lock"

_scopes = threading.local()  # the FolderLock lists of the `lock_scope()` blocks open in this thread


class FolderLock:
    """One writer per run folder: `acquire()` takes an exclusive, non-blocking `flock` on
    `<folder>/.resnet-gui.lock` (the pid written inside, for the message) or raises EngineError naming the
    process that holds it. The kernel releases it when the holder exits in any way (kill -9 included), so
    it cannot stay stuck; `release()` (or leaving the `lock_scope()` it was taken in) lets go earlier."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> FolderLock:
        if self._fd is not None:
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise self._busy(_read_pid(fd)) from None
            else:  # pragma: no cover - no flock: a pid file whose process must be gone
                pid = _read_pid(fd)
                if pid and pid != os.getpid() and _pid_alive(pid):
                    raise self._busy(pid)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        _HELD[str(self.folder.resolve())] = self
        for scope in getattr(_scopes, "stack", []):
            scope.append(self)
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        _HELD.pop(str(self.folder.resolve()), None)
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor drops the flock

    def _busy(self, pid: int | None) -> EngineError:
        who = f" (pid {pid})" if pid else ""
        return EngineError(
            f"{self.folder} is in use by another training run{who}: one run writes a folder at a time; "
            "wait for it to finish or choose another output folder"
        )

    def __del__(self) -> None:
        self.release()


_HELD: dict[str, FolderLock] = {}  # folder -> the lock this process holds on it


def _read_pid(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text else None
    return None


@contextlib.contextmanager
def lock_scope() -> Iterator[list[FolderLock]]:
    """Release every FolderLock acquired in this thread inside the block when it ends (also on errors:
    a traceback kept alive by a caller must not keep a run folder locked)."""
    stack = _scopes.__dict__.setdefault("stack", [])
    taken: list[FolderLock] = []
    stack.append(taken)
    try:
        yield taken
    finally:
        stack.remove(taken)
        for lock in taken:
            lock.release()


def folder_locked(folder: str | Path, by_others: bool = False) -> bool:
    """Whether a live process holds `folder`'s FolderLock (with `by_others`: a process other than this
    one). Never creates the lock file."""
    folder = Path(folder)
    mine = str(folder.resolve()) in _HELD
    if mine:
        return not by_others
    path = folder / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        if fcntl is None:  # pragma: no cover
            pid = _read_pid(fd)
            return bool(pid) and _pid_alive(pid)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False
    finally:
        os.close(fd)  # also drops the shared lock just taken


def check_writable(folder: str | Path, need_bytes: int = 0) -> None:
    """Fail early, with a clear message, if checkpoints cannot be written to `folder`."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=f".write-test.{os.getpid()}.", suffix=TEMP_SUFFIX)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = "permission denied" if isinstance(exc, PermissionError) else (exc.strerror or str(exc))
        raise CheckpointError(f"cannot write checkpoints to {folder}: {reason}") from exc
    free = shutil.disk_usage(folder).free
    if need_bytes and free < need_bytes:
        raise CheckpointError(
            f"only {free / 1e6:,.0f} MB free in {folder}; saving checkpoints needs about "
            f"{need_bytes / 1e6:,.0f} MB: free some space or choose another output folder"
        )


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); silently skipped where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
