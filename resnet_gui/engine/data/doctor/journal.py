"""Every change to a dataset folder as a journal entry, with undo and redo that survive restarts (torch-free).

The journal is `DATASET/.resnet-gui/journal.jsonl`, one JSON object a line, each appended and fsynced.
A change is a list of file moves inside the dataset, never a delete: relabel moves a file into another
class folder, remove moves it into `.resnet-gui/trash/`, add (from Classify) first copies the user's file
into `.resnet-gui/incoming/` and then moves it into a class folder, keep only marks files as reviewed.

Write-ahead: the `begin` line (with every move planned, collisions already resolved) is on disk before the
first file moves, the `commit` line after the last. A kill -9 in between leaves a `begin` without an end;
the next `Journal(root)` moves back whatever had moved (each move is one `rename`, so a file is always in
exactly one place) and writes `rollback`. Undo and redo are changes too (`of` = the change they reverse),
so the history is the journal replayed. The scanner never sees `.resnet-gui` (hidden folders are skipped).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from resnet_gui.engine.data.images import IMAGE_EXTENSIONS
from resnet_gui.engine.data.scan import _TEST_NAMES, _TRAIN_NAMES, _VAL_NAMES  # the scanner's layout
from resnet_gui.engine.errors import DatasetError

log = logging.getLogger(__name__)

JOURNAL_DIR = ".resnet-gui"
JOURNAL_FILE = "journal.jsonl"
TRASH_DIR = "trash"
INCOMING_DIR = "incoming"
KINDS = ("relabel", "remove", "keep", "add")  # what a user does; "undo" / "redo" reverse one of them

Move = tuple[str, str]  # (from, to), relative to the dataset root, "/"-separated


@dataclass(frozen=True)
class Change:
    """One committed change as it stands now: its moves (as last applied) and the files it marked."""

    id: int
    kind: str
    moves: list[Move]
    paths: list[str] = field(default_factory=list)  # keep: the files marked as reviewed
    to: str | None = None  # relabel / add: the class
    time: float = 0.0

    def describe(self) -> str:
        n = len(self.moves) or len(self.paths)
        what = f"{n} image{'s' if n != 1 else ''}"
        return {
            "relabel": f"move {what} to '{self.to}'",
            "remove": f"remove {what}",
            "keep": f"keep {what} as labelled",
            "add": f"add {what} to '{self.to}'",
        }.get(self.kind, self.kind)


class Journal:
    """The change log of one dataset folder. Opening it repairs a change a crash left half done.

    Every method re-reads the log, so the app and the CLI working on the same folder agree.
    `after_move` (tests) is called after each file move of a change.
    """

    def __init__(self, root: str | os.PathLike, *, after_move: Callable[[int], None] | None = None):
        self.root = Path(os.path.abspath(os.fspath(root)))
        if not self.root.is_dir():
            raise DatasetError(f"dataset folder {self.root} does not exist")
        self.dir = self.root / JOURNAL_DIR
        self.path = self.dir / JOURNAL_FILE
        self.after_move = after_move
        if self.path.exists():  # nothing is written to a folder that has no journal yet
            with self._locked():
                self._recover()

    # --- what the history is ------------------------------------------------------------------------
    def entries(self) -> list[dict]:
        """Every complete line of the log, in order."""
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def _replay(self) -> tuple[list[Change], list[Change]]:
        """(applied changes, oldest first; changes undone that redo would re-apply, next first)."""
        begun: dict[int, dict] = {}
        applied: list[Change] = []
        redo: list[Change] = []
        for e in self.entries():
            if e.get("op") == "begin":
                begun[e["id"]] = e
                continue
            if e.get("op") != "commit" or e.get("id") not in begun:
                continue
            b = begun[e["id"]]
            moves = [(m[0], m[1]) for m in b.get("moves", [])]
            if b["kind"] == "undo":
                done = applied.pop()
                back = [(d, s) for s, d in reversed(moves)]
                redo.append(Change(done.id, done.kind, back, done.paths, done.to, b.get("time", 0.0)))
            elif b["kind"] == "redo":
                again = redo.pop()
                applied.append(Change(again.id, again.kind, moves, again.paths, again.to, b.get("time", 0.0)))
            else:
                c = Change(b["id"], b["kind"], moves, b.get("paths", []), b.get("to"), b.get("time", 0.0))
                applied.append(c)
                redo.clear()
        return applied, redo[::-1]

    def history(self) -> list[Change]:
        """The changes in effect, oldest first (what undo walks back)."""
        return self._replay()[0]

    def redoable(self) -> list[Change]:
        """Undone changes, the next redo first."""
        return self._replay()[1]

    def can_undo(self) -> bool:
        return bool(self.history())

    def can_redo(self) -> bool:
        return bool(self.redoable())

    def reviewed(self) -> set[str]:
        """Absolute paths a person has looked at: kept as labelled, or relabelled (not suggested again)."""
        out: set[str] = set()
        for c in self.history():
            if c.kind == "keep":
                out.update(c.paths)
            elif c.kind == "relabel":
                out.update(d for _, d in c.moves)
        return {str(self.root / p) for p in out}

    def added_since(self, since: float) -> int:
        """Images added (from Classify) and still in the dataset, by changes made after `since` (epoch s)."""
        return sum(len(c.moves) for c in self.history() if c.kind == "add" and c.time > since)

    # --- changes --------------------------------------------------------------------------------------
    def relabel(self, paths: Iterable[str | os.PathLike], to_class: str) -> Change:
        """Move each file into the folder of class `to_class` (same split; created if new)."""
        to_class = _check_class_name(to_class)
        moves = []
        for rel in self._rel_paths(paths):
            prefix = self._split_prefix(rel)
            current = rel[len(prefix) :].split("/", 1)[0]  # the class folder it is in (maybe deeper down)
            if current != to_class:
                moves.append((rel, f"{prefix}{to_class}/{rel.rsplit('/', 1)[-1]}"))
        if not moves:
            raise DatasetError(f"the images are already in class '{to_class}'")
        return self._apply("relabel", moves, to=to_class)

    def remove(self, paths: Iterable[str | os.PathLike]) -> Change:
        """Move each file into `.resnet-gui/trash/` (same relative path), out of the dataset, not deleted."""
        moves = [(rel, f"{JOURNAL_DIR}/{TRASH_DIR}/{rel}") for rel in self._rel_paths(paths)]
        return self._apply("remove", moves)

    def keep(self, paths: Iterable[str | os.PathLike]) -> Change:
        """Mark files as reviewed: the label-error finder does not suggest them again."""
        return self._apply("keep", [], paths=self._rel_paths(paths))

    def add_copies(self, sources: Iterable[str | os.PathLike], to_class: str) -> Change:
        """Copy files from anywhere into class `to_class` (the training split); the originals stay."""
        to_class = _check_class_name(to_class)
        prefix = self._train_prefix()
        moves = []
        for src in sources:
            src = Path(src)
            if not src.is_file():
                raise DatasetError(f"{src} is not a file")
            rel = f"{JOURNAL_DIR}/{INCOMING_DIR}/{uuid.uuid4().hex[:12]}/{_image_name(src)}"
            _copy_durably(src, self.root / rel)
            moves.append((rel, f"{prefix}{to_class}/{_image_name(src)}"))
        if not moves:
            raise DatasetError("no images to add")
        return self._apply("add", moves, to=to_class)

    def undo(self, steps: int = 1) -> list[Change]:
        """Reverse the last `steps` changes (fewer when the history is shorter); the changes undone."""
        done = []
        for _ in range(max(0, steps)):
            history = self.history()
            if not history:
                break
            last = history[-1]
            back = [(d, s) for s, d in reversed(last.moves)]
            self._apply("undo", back, of=last.id, rmdirs=True)
            done.append(last)
        return done

    def redo(self, steps: int = 1) -> list[Change]:
        """Re-apply the last `steps` undone changes."""
        done = []
        for _ in range(max(0, steps)):
            todo = self.redoable()
            if not todo:
                break
            self._apply("redo", todo[0].moves, of=todo[0].id)
            done.append(todo[0])
        return done

    # --- doing it safely ------------------------------------------------------------------------------
    def _apply(self, kind: str, moves: list[Move], *, rmdirs: bool = False, **extra) -> Change:
        with self._locked():
            self._recover()
            moves = self._resolve_collisions(moves)
            ids = [e.get("id", 0) for e in self.entries()]
            change_id = max(ids, default=0) + 1
            entry = {"op": "begin", "id": change_id, "kind": kind, "moves": moves, "time": time.time()}
            entry.update({k: v for k, v in extra.items() if v is not None})
            self._append(entry)  # the intent is on disk before any file moves
            try:
                touched = self._move_all(moves, rmdirs)
            except OSError as exc:
                self._roll_back(moves)
                self._append({"op": "rollback", "id": change_id})
                raise DatasetError(f"could not {kind} the files: {exc}") from exc
            for folder in touched:
                _fsync_dir(folder)
            self._append({"op": "commit", "id": change_id})
        log.info("journal %s: %s #%d, %d moves", self.root, kind, change_id, len(moves))
        return Change(change_id, kind, moves, extra.get("paths") or [], extra.get("to"), entry["time"])

    def _move_all(self, moves: list[Move], rmdirs: bool) -> set[Path]:
        touched: set[Path] = set()
        for i, (src, dst) in enumerate(moves):
            s, d = self.root / src, self.root / dst
            if d.exists():
                raise FileExistsError(f"{dst} exists")
            d.parent.mkdir(parents=True, exist_ok=True)
            os.rename(s, d)
            touched.update((s.parent, d.parent))
            if self.after_move is not None:
                self.after_move(i)
        if rmdirs:  # an undo: folders a change created and left empty go again (byte-identical round trip)
            for folder in sorted(touched, key=lambda p: len(p.parts), reverse=True):
                if folder != self.root and self.root in folder.parents and not any(folder.iterdir()):
                    with contextlib.suppress(OSError):
                        folder.rmdir()
                        touched.add(folder.parent)
            touched = {t for t in touched if t.exists()}
        return touched

    def _roll_back(self, moves: Sequence[Move]) -> None:
        """Put back every file of `moves` that had moved (a failed or interrupted change)."""
        for src, dst in reversed(moves):
            s, d = self.root / src, self.root / dst
            if d.exists() and not s.exists():
                s.parent.mkdir(parents=True, exist_ok=True)
                os.rename(d, s)
                _fsync_dir(s.parent)

    def _recover(self) -> None:
        """A `begin` without `commit`/`rollback` (a crash mid-change): move its files back, say so."""
        if not self.path.exists():
            return
        raw = self.path.read_bytes()
        if raw and not raw.endswith(b"\n"):  # a torn last line: drop it so the next line starts clean
            with open(self.path, "r+b") as f:
                f.truncate(raw.rfind(b"\n") + 1)
                os.fsync(f.fileno())
        open_ids: dict[int, dict] = {}
        for e in self.entries():
            if e.get("op") == "begin":
                open_ids[e["id"]] = e
            elif e.get("op") in ("commit", "rollback"):
                open_ids.pop(e.get("id"), None)
        for change_id, e in open_ids.items():
            log.warning(
                "journal %s: change #%d was interrupted; putting its files back", self.root, change_id
            )
            self._roll_back([(m[0], m[1]) for m in e.get("moves", [])])
            self._append({"op": "rollback", "id": change_id})

    def _resolve_collisions(self, moves: list[Move]) -> list[Move]:
        """Destinations that exist (or that an earlier move of the batch claims) get " (2)", " (3)", ..."""
        claimed: set[str] = set()
        out = []
        for src, dst in moves:
            base, ext = os.path.splitext(dst)
            candidate, n = dst, 1
            while candidate in claimed or (self.root / candidate).exists():
                n += 1
                candidate = f"{base} ({n}){ext}"
            claimed.add(candidate)
            out.append((src, candidate))
        return out

    def _append(self, entry: dict) -> None:
        self.dir.mkdir(exist_ok=True)
        new = not self.path.exists()
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        if new:
            _fsync_dir(self.dir)

    @contextlib.contextmanager
    def _locked(self):
        """One change at a time per folder, across processes (the app and the CLI)."""
        self.dir.mkdir(exist_ok=True)
        try:
            import fcntl
        except ImportError:  # Windows: one process at a time is the user's to keep
            yield
            return
        with open(self.dir / "lock", "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    # --- paths ----------------------------------------------------------------------------------------
    def _rel_paths(self, paths: Iterable[str | os.PathLike]) -> list[str]:
        out = []
        for p in paths:
            full = Path(os.path.abspath(os.fspath(p)))
            if not full.is_relative_to(self.root):
                raise DatasetError(f"{p} is not inside the dataset folder {self.root}")
            rel = full.relative_to(self.root).as_posix()
            if rel.split("/", 1)[0] == JOURNAL_DIR:
                raise DatasetError(f"{p} is in the app's own folder, not in the dataset")
            if not full.is_file():
                raise DatasetError(f"{p} is not a file in the dataset")
            if rel not in out:
                out.append(rel)
        if not out:
            raise DatasetError("no images given")
        return out

    def _split_prefix(self, rel: str) -> str:
        """ "train/" for train/cat/x.jpg in a train/ + val/ layout, "" for cat/x.jpg."""
        first = rel.split("/", 1)[0]
        if first.lower() in (*_TRAIN_NAMES, *_VAL_NAMES, *_TEST_NAMES) and self._has_split_layout():
            return first + "/"
        return ""

    def _train_prefix(self) -> str:
        if self._has_split_layout():
            return next(d.name for d in self.root.iterdir() if d.name.lower() in _TRAIN_NAMES) + "/"
        return ""

    def _has_split_layout(self) -> bool:
        names = [d.name.lower() for d in self.root.iterdir() if d.is_dir() and not d.name.startswith(".")]
        return any(n in _TRAIN_NAMES for n in names) and (
            len(names) == 1 or any(n in (*_VAL_NAMES, *_TEST_NAMES) for n in names)
        )


def _check_class_name(name: str) -> str:
    name = name.strip()
    if not name or name.startswith(".") or "/" in name or "\\" in name or name in ("..",):
        raise DatasetError(f"'{name}' cannot be a class folder name")
    return name


def _image_name(src: Path) -> str:
    ext = src.suffix.lower()
    return src.name if ext in IMAGE_EXTENSIONS else f"{src.name}.png"


def _copy_durably(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    shutil.copyfile(src, tmp)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, dst)
    _fsync_dir(dst.parent)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a folder
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
