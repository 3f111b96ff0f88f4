"""Issue 6, bad datasets: a clear message before training when it cannot work; otherwise training completes
and reports every skipped file with its reason (TrainResult.skipped, CLI `skipped`, ImageSkipped events)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from resnet_gui.cli import main as cli_main
from resnet_gui.engine import events as ev
from resnet_gui.engine.config import TrainConfig
from resnet_gui.engine.data import images
from resnet_gui.engine.data.scan import scan_dataset
from resnet_gui.engine.errors import DatasetError, EngineError
from resnet_gui.engine.train.loop import train
from tests._fixtures import TINY

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _copy_classes(demo_dir: Path, dest: Path, classes=("circle", "square"), per_class: int = 6) -> Path:
    for cls in classes:
        (dest / cls).mkdir(parents=True, exist_ok=True)
        for src in sorted((demo_dir / cls).glob("*.png"))[:per_class]:
            shutil.copyfile(src, dest / cls / src.name)
    return dest


def _train(data: Path, tmp_path: Path, events: list | None = None, **overrides):
    cfg = {**TINY, "epochs": 1, "val_split": 0.25, "out_dir": str(tmp_path / "runs"), **overrides}
    return train(
        TrainConfig(data_dir=str(data), **cfg), on_event=(events.append if events is not None else None)
    )


def _fails_before_training(data: Path, tmp_path: Path, match: str) -> None:
    events: list = []
    with pytest.raises(DatasetError, match=match):
        _train(data, tmp_path, events)
    assert not any(isinstance(e, ev.RunStarted) for e in events)
    assert isinstance(events[-1], ev.RunFailed) and match.split("\\")[0].split("(")[0] in events[-1].error
    assert not (tmp_path / "runs").exists()  # nothing written


def test_empty_folder_fails_before_training(tmp_path: Path):
    (tmp_path / "data").mkdir()
    _fails_before_training(tmp_path / "data", tmp_path, "has no class folders with images")


def test_one_class_fails_before_training(tmp_path: Path, demo_dir: Path):
    data = _copy_classes(demo_dir, tmp_path / "data", classes=("circle",))
    (data / "empty_class").mkdir()
    _fails_before_training(data, tmp_path, "has only one class with images \\('circle'\\)")


def test_empty_class_folders_are_left_out_and_reported(tmp_path: Path, demo_dir: Path):
    data = _copy_classes(demo_dir, tmp_path / "data")
    (data / "nothing_here").mkdir()
    (data / "only_text").mkdir()
    (data / "only_text" / "readme.txt").write_text("hi")
    index = scan_dataset(data)
    assert index.classes == ["circle", "square"]
    assert index.empty_classes == ["nothing_here", "only_text"]
    assert "class folder 'nothing_here' has no images and was left out" in index.problems
    result = _train(data, tmp_path)
    assert result.classes == ["circle", "square"] and result.checkpoint


def test_git_and_hidden_folders_are_ignored(tmp_path: Path, demo_dir: Path):
    data = _copy_classes(demo_dir, tmp_path / "data")
    for hidden in (data / ".git" / "objects", data / ".cache", data / "circle" / ".thumbnails"):
        hidden.mkdir(parents=True)
        shutil.copyfile(next(demo_dir.glob("star/*.png")), hidden / "x.png")
    index = scan_dataset(data, val_split=0)
    assert index.classes == ["circle", "square"]
    assert not any("/." in s.path for s in index.train)
    assert len(index.train) == 12


def test_symlink_loops_terminate_without_duplicates(tmp_path: Path, demo_dir: Path):
    data = _copy_classes(demo_dir, tmp_path / "data")
    (data / "circle" / "loop").symlink_to(data / "circle", target_is_directory=True)
    (data / "square" / "up").symlink_to(data, target_is_directory=True)
    (data / "everything").symlink_to(data, target_is_directory=True)  # a "class" that is the whole tree
    (data / "circle" / "a").mkdir()
    (data / "circle" / "a" / "b").symlink_to(data / "circle" / "a", target_is_directory=True)
    index = scan_dataset(data, val_split=0)
    assert index.classes == ["circle", "square"]
    assert index.counts() == {"circle": 6, "square": 6}
    assert "everything" in index.empty_classes
    paths = [os.path.realpath(s.path) for s in index.train]
    assert len(paths) == len(set(paths)) == 12


def test_unreadable_class_folder_is_reported(tmp_path: Path, demo_dir: Path, monkeypatch):
    """Permission denied on one folder: its images are left out and the folder named (works as root too)."""
    data = _copy_classes(demo_dir, tmp_path / "data", classes=("circle", "square", "star"))
    denied = str(data / "star")
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path) == denied:
            raise PermissionError(13, "Permission denied", denied)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    index = scan_dataset(data)
    assert index.classes == ["circle", "square"]
    assert any(f"cannot read folder {denied} (permission denied)" in p for p in index.problems)
    # the whole dataset folder unreadable: a clear error
    monkeypatch.setattr(os, "scandir", lambda path=".": (_ for _ in ()).throw(PermissionError(13, "denied")))
    with pytest.raises(DatasetError, match="permission denied"):
        scan_dataset(data)


def test_unreadable_files_are_skipped_with_their_reason(tmp_path: Path, demo_dir: Path, monkeypatch):
    data = _copy_classes(demo_dir, tmp_path / "data")
    locked = {str(data / "circle" / "circle_0001.png"), str(data / "square" / "square_0002.png")}
    real_open = open

    def guarded_open(path, *args, **kwargs):
        if os.fspath(path) in locked:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(images, "open", guarded_open, raising=False)  # the loader's `open` (workers=0)
    result = _train(data, tmp_path, val_split=0.0)
    assert {s["path"]: s["reason"] for s in result.skipped} == dict.fromkeys(locked, "permission denied")


@pytest.mark.skipif(IS_ROOT, reason="root ignores file permissions; the monkeypatched tests above cover it")
def test_real_chmod_000_file_and_folder(tmp_path: Path, demo_dir: Path):
    data = _copy_classes(demo_dir, tmp_path / "data", classes=("circle", "square", "star"))
    locked_file = data / "circle" / "circle_0001.png"
    locked_file.chmod(0)
    (data / "star").chmod(0)
    try:
        index = scan_dataset(data, val_split=0)
        assert index.classes == ["circle", "square"]
        result = _train(data, tmp_path, val_split=0.0)
        assert {s["path"]: s["reason"] for s in result.skipped} == {str(locked_file): "permission denied"}
    finally:
        (data / "star").chmod(0o755)
        locked_file.chmod(0o644)


def test_files_deleted_while_training_are_skipped(tmp_path: Path, demo_dir: Path):
    data = _copy_classes(demo_dir, tmp_path / "data")
    doomed = [data / "circle" / "circle_0003.png", data / "square" / "square_0004.png"]
    events: list = []

    def on_event(e):
        events.append(e)
        if isinstance(e, ev.RunStarted):  # the index is built; now the files vanish
            for p in doomed:
                p.unlink()

    result = train(
        TrainConfig(data_dir=str(data), epochs=2, val_split=0.0, out_dir=str(tmp_path / "runs"), **TINY),
        on_event=on_event,
    )
    assert not result.stopped and result.epochs == 2 and result.checkpoint
    assert {s["path"]: s["reason"] for s in result.skipped} == {str(p): "file not found" for p in doomed}
    assert [e.path for e in events if isinstance(e, ev.ImageSkipped)] == [s["path"] for s in result.skipped]


def _break_a_third(data: Path) -> dict[str, str]:
    """Overwrite every third file with a different kind of damage; returns path -> expected reason."""
    damage = [
        (b"", "empty file (0 bytes)"),
        (b"not an image at all", "not an image"),
        (None, "truncated"),
    ]
    broken = {}
    files = sorted(data.rglob("*.png"))
    for i, path in enumerate(files[::3]):
        content, reason = damage[i % len(damage)]
        path.write_bytes(content if content is not None else path.read_bytes()[:60])
        broken[str(path)] = reason
    return broken


def test_a_third_broken_trains_and_reports_every_file(tmp_path: Path, demo_dir: Path):
    data = _copy_classes(demo_dir, tmp_path / "data", classes=("circle", "square", "star"))
    broken = _break_a_third(data)
    assert len(broken) == 6
    index = scan_dataset(data, val_split=0.25)
    empties = [p for p, r in broken.items() if r.startswith("empty")]
    assert all(any(e in prob and "empty (0 bytes)" in prob for prob in index.problems) for e in empties)
    events: list = []
    result = _train(data, tmp_path, events)
    assert not result.stopped and result.checkpoint and result.epochs == 1
    reported = {s["path"]: s["reason"] for s in result.skipped}
    readable_broken = {
        p: r for p, r in broken.items() if p not in empties
    }  # 0-byte files never become samples
    assert set(reported) == set(readable_broken)
    for path, reason in readable_broken.items():
        assert reason in reported[path], (path, reported[path])


def test_cli_train_json_lists_skipped_files(tmp_path: Path, demo_dir: Path, capsys):
    data = _copy_classes(demo_dir, tmp_path / "data")
    broken = {p: r for p, r in _break_a_third(data).items() if not r.startswith("empty")}
    code = cli_main(
        ["train", str(data), "--epochs", "1", "--img-size", "32", "--batch-size", "16", "--workers", "0"]
        + ["--val-split", "0", "--out", str(tmp_path / "runs"), "--json"]
    )
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert code == 1  # some inputs failed, still reported
    assert {s["path"] for s in result["skipped"]} == set(broken)
    assert all(s["reason"] for s in result["skipped"])
    for path in broken:
        assert f"skipped {path}" in err


def test_every_file_broken_is_a_clear_error(tmp_path: Path, demo_dir: Path):
    data = _copy_classes(demo_dir, tmp_path / "data", per_class=3)
    for path in data.rglob("*.png"):
        path.write_bytes(b"GIF89a nope")
    events: list = []
    with pytest.raises(EngineError, match="none of the 6 training images could be read"):
        _train(data, tmp_path, events, val_split=0.0)
    assert isinstance(events[-1], ev.RunFailed)
