"""The journal: relabel / remove / keep / add with undo and redo, byte-identical round trips, and a kill -9
in the middle of a change that loses nothing."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from resnet_gui.engine.data.demo import make_demo_dataset
from resnet_gui.engine.data.doctor.journal import JOURNAL_DIR, Journal
from resnet_gui.engine.data.scan import scan_dataset
from resnet_gui.engine.errors import DatasetError


def snapshot(root: Path) -> dict[str, str]:
    """Every path under root but the app's own folder (folders too), with the files' contents."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != JOURNAL_DIR]
        rel = os.path.relpath(dirpath, root)
        out[rel + "/"] = "dir"
        for name in filenames:
            out[os.path.join(rel, name)] = hashlib.sha256((Path(dirpath) / name).read_bytes()).hexdigest()
    return out


def all_contents(root: Path) -> list[str]:
    """Hashes of every image file anywhere under root, the trash and incoming included (a multiset)."""
    return sorted(
        hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*.png") if not p.name.startswith(".")
    )


@pytest.fixture
def data(tmp_path) -> Path:
    return make_demo_dataset(tmp_path / "d", per_class=4, size=16, seed=0)


def test_round_trip_every_kind_of_change_then_undo_all_is_byte_identical(data, tmp_path):
    before = snapshot(data)
    outside = tmp_path / "photo.png"
    outside.write_bytes((data / "star" / "star_0000.png").read_bytes())
    # a name collision: square/circle_0000.png exists before circle/circle_0000.png is relabelled there
    (data / "square" / "circle_0000.png").write_bytes(b"not the same file")
    before = snapshot(data)
    j = Journal(data)
    j.relabel([data / "circle" / "circle_0000.png", data / "circle" / "circle_0001.png"], "square")
    assert (data / "square" / "circle_0000 (2).png").is_file()  # the collision got a new name
    assert (data / "square" / "circle_0000.png").read_bytes() == b"not the same file"
    j.relabel([data / "star" / "star_0001.png"], "hexagon")  # a new class folder
    j.remove([data / "triangle" / "triangle_0002.png", data / "square" / "square_0003.png"])
    j.keep([data / "star" / "star_0002.png"])
    j.add_copies([outside], "circle")
    after = snapshot(data)
    assert after != before
    assert "hexagon/star_0001.png" in after and "triangle/triangle_0002.png" not in after
    assert (data / JOURNAL_DIR / "trash" / "triangle" / "triangle_0002.png").is_file()
    assert outside.is_file()  # added by copy: the user's file stays where it was
    assert len(j.history()) == 5

    # across a restart: a fresh Journal reads the history from the file
    j2 = Journal(data)
    assert [c.kind for c in j2.history()] == ["relabel", "relabel", "remove", "keep", "add"]
    assert len(j2.undo(steps=100)) == 5
    assert snapshot(data) == before  # paths (folders included) and contents
    assert not j2.can_undo() and j2.can_redo()

    assert len(Journal(data).redo(steps=5)) == 5
    assert snapshot(data) == after
    Journal(data).undo(steps=5)
    assert snapshot(data) == before


def test_the_scanner_does_not_see_the_trash_or_the_journal(data):
    n = scan_dataset(data).num_images
    Journal(data).remove([data / "circle" / "circle_0000.png"])
    index = scan_dataset(data)
    assert index.num_images == n - 1
    assert not any(JOURNAL_DIR in s.path for s in [*index.train, *index.val])


def test_a_new_change_clears_redo_and_keep_marks_reviewed(data):
    j = Journal(data)
    j.remove([data / "circle" / "circle_0000.png"])
    j.undo()
    assert j.can_redo()
    j.keep([data / "star" / "star_0000.png"])
    assert not j.can_redo()
    assert str(data / "star" / "star_0000.png") in j.reviewed()
    j.relabel([data / "circle" / "circle_0001.png"], "star")
    assert str(data / "star" / "circle_0001.png") in j.reviewed()  # relabelled by a person: reviewed
    j.undo(2)
    assert j.reviewed() == set()


def test_paths_outside_the_dataset_or_in_the_app_folder_are_refused(data, tmp_path):
    j = Journal(data)
    other = tmp_path / "x.png"
    other.write_bytes(b"x")
    with pytest.raises(DatasetError, match="not inside"):
        j.remove([other])
    with pytest.raises(DatasetError, match="not a file"):
        j.remove([data / "circle" / "nope.png"])
    with pytest.raises(DatasetError, match="cannot be a class"):
        j.relabel([data / "circle" / "circle_0000.png"], "../evil")
    with pytest.raises(DatasetError, match="already in class"):
        j.relabel([data / "circle" / "circle_0000.png"], "circle")


def test_split_layout_relabel_stays_in_its_split_and_adds_go_to_train(tmp_path):
    data = make_demo_dataset(tmp_path / "d", per_class=4, size=16, seed=0, with_val=True)
    j = Journal(data)
    c = j.relabel([data / "val" / "circle" / "circle_0000.png"], "star")
    assert c.moves == [("val/circle/circle_0000.png", "val/star/circle_0000.png")]
    src = tmp_path / "p.png"
    src.write_bytes((data / "train" / "star" / "star_0000.png").read_bytes())
    add = j.add_copies([src], "circle")
    assert add.moves[0][1] == "train/circle/p.png"
    assert j.added_since(0) == 1


_CRASHER = """
import os, signal, sys
from resnet_gui.engine.data.doctor.journal import Journal
root, kind, at = sys.argv[1], sys.argv[2], int(sys.argv[3])
def hook(i):
    if i == at:
        os.kill(os.getpid(), signal.SIGKILL)
j = Journal(root, after_move=hook)
paths = [os.path.join(root, "circle", f"circle_000{i}.png") for i in range(3)]
if kind == "remove":
    j.remove(paths)
elif kind == "relabel":
    j.relabel(paths, "square")
else:
    j.after_move = None
    j.remove(paths)
    j.after_move = hook
    j.undo()
"""


@pytest.mark.parametrize(("kind", "at"), [("remove", 0), ("remove", 1), ("relabel", 2), ("undo", 1)])
def test_kill_9_during_a_change_loses_nothing_and_is_repaired_on_open(data, kind, at):
    before = snapshot(data)
    contents = all_contents(data)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run([sys.executable, "-c", _CRASHER, str(data), kind, str(at)], env=env, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    # mid-change: every file is in exactly one place (no copy lost, none doubled)
    assert all_contents(data) == contents
    lines = [json.loads(x) for x in (data / JOURNAL_DIR / "journal.jsonl").read_text().splitlines()]
    assert lines[-1]["op"] == "begin"  # the intent is on disk, its commit is not

    j = Journal(data)  # opening repairs: the interrupted change is rolled back
    assert all_contents(data) == contents
    if kind == "undo":
        removed = {f"circle/circle_000{i}.png" for i in range(3)}
        expect = set(before) - removed
        assert set(snapshot(data)) == expect  # the removal stands, its interrupted undo was rolled back
        assert [c.kind for c in j.history()] == ["remove"]
        j.undo()
    else:
        assert j.history() == []
    assert snapshot(data) == before
    assert Journal(data).entries()[-1]["op"] in ("rollback", "commit")


def test_relabel_within_a_nested_class_folder_is_a_no_op_and_out_of_it_flattens(data):
    (data / "circle" / "sub").mkdir()
    nested = data / "circle" / "sub" / "n.png"
    nested.write_bytes((data / "circle" / "circle_0000.png").read_bytes())
    j = Journal(data)
    with pytest.raises(DatasetError, match="already in class"):
        j.relabel([nested], "circle")
    c = j.relabel([nested], "star")
    assert c.moves == [("circle/sub/n.png", "star/n.png")]
    j.undo()
    assert nested.is_file()
