"""Atomic file I/O, the one home for it: a kill at any moment leaves the old file or the complete new one.

Temp files live in the target's folder (same file system, so `os.replace` is atomic), carry the writer's
pid, and are removed by `clean_stale_temp_files` once that process is gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from resnet_gui.engine.errors import CheckpointError

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


def clean_stale_temp_files(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Remove temp files left by a writer that was killed (its pid is gone); returns what was removed.

    Only our own pattern is touched: ".<name>.<pid>.<random>.tmp". Files of a live process are kept.
    """
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    candidates = list(folder.glob(f".*{TEMP_SUFFIX}"))
    if recursive:  # one level down: the run folders inside an output folder
        candidates += folder.glob(f"*/.*{TEMP_SUFFIX}")
    for tmp in candidates:
        parts = tmp.name[: -len(TEMP_SUFFIX)].rsplit(".", 2)
        if len(parts) != 3 or not parts[1].isdigit() or _pid_alive(int(parts[1])):
            continue
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed.append(tmp)
            log.info("removed %s, left by an interrupted save", tmp)
    return removed


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
