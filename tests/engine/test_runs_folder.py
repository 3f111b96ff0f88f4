"""The one runs folder (engine/config.default_runs_dir) that `train`, `resnet-gui runs` and the app share,
what a run keeps on disk, and renaming / trashing runs (engine/runs.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resnet_gui.cli import main
from resnet_gui.engine.config import HOME_ENV, app_data_dir, default_runs_dir
from resnet_gui.engine.errors import CheckpointError
from resnet_gui.engine.runs import (
    RUN_FILE,
    TRASH_DIR,
    disk_usage,
    empty_trash,
    folder_size,
    list_runs,
    load_run,
    rename_run,
    trash_run,
)

TRAIN = ["--epochs", "1", "--img-size", "32", "--batch-size", "16", "--workers", "0"]


def test_runs_folder_comes_from_the_env_or_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    assert default_runs_dir() == tmp_path / "home" / "runs"
    monkeypatch.delenv(HOME_ENV)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert app_data_dir() == tmp_path / "xdg" / "resnet-gui"  # one "resnet-gui", not two
    assert default_runs_dir() == tmp_path / "xdg" / "resnet-gui" / "runs"


def test_the_app_uses_the_same_folder(monkeypatch, tmp_path):
    from resnet_gui.ui.common import default_runs_dir as ui_runs_dir

    monkeypatch.setenv(HOME_ENV, str(tmp_path))
    assert ui_runs_dir() == default_runs_dir() == tmp_path / "runs"


@pytest.fixture(scope="module")
def cli_run(demo_dir, tmp_path_factory):
    """`resnet-gui train` without --out, into a module-wide app home."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(HOME_ENV, str(home))
        assert main(["train", str(demo_dir), *TRAIN, "--json"]) == 0
    return home / "runs"


def test_train_without_out_writes_into_the_runs_folder(cli_run, capsys):
    runs = list_runs(cli_run)
    assert len(runs) == 1 and Path(runs[0].path).parent == cli_run
    files = sorted(p.name for p in Path(runs[0].path).iterdir() if not p.name.startswith("."))  # .lock
    # a finished run keeps no resume state (the optimizer's moments: twice the model's size)
    assert files == ["best.safetensors", "last.safetensors", RUN_FILE]
    kept = sum((Path(runs[0].path) / f).stat().st_size for f in files)
    assert runs[0].size_bytes == folder_size(runs[0].path) >= kept


def test_runs_json_lists_it(cli_run, capsys, monkeypatch):
    monkeypatch.setenv(HOME_ENV, str(cli_run.parent))
    capsys.readouterr()
    assert main(["runs", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["runs_dir"] == str(cli_run)
    (row,) = doc["runs"]
    assert row["status"] == "finished" and row["arch"] == "resnet18" and row["dataset"] == "shapes"
    assert row["epochs"] == 1 and 0 <= row["best_val_acc"] <= 1 and row["size_bytes"] > 1e6
    assert row["started"] and Path(row["checkpoint"]).is_file()
    assert doc["disk"] == {"runs": row["size_bytes"], "trash": 0}
    assert main(["runs"]) == 0
    out, err = capsys.readouterr()
    assert row["name"][:36] in out and "finished" in out and "1 run(s)" in err


def test_a_stopped_run_keeps_its_resume_state(demo_dir, tmp_path):
    from resnet_gui.engine import events as ev
    from resnet_gui.engine.config import TrainConfig
    from resnet_gui.engine.train.loop import train
    from tests._fixtures import TINY, stop_on

    stop, _events, on_event = stop_on(ev.EpochDone)
    result = train(
        TrainConfig(data_dir=str(demo_dir), epochs=3, out_dir=str(tmp_path), **TINY), on_event, stop
    )
    assert result.stopped and Path(result.last_checkpoint).with_name("last.state.pt").is_file()
    assert load_run(Path(result.last_checkpoint).parent).status == "stopped"


def _fake_run(root: Path, name: str, size: int = 1000) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    record = {
        "format": "resnet-gui-run",
        "name": name,
        "status": "finished",
        "config": {"data_dir": "/d/pets"},
        "arch": "resnet18",
        "history": [{"epoch": 1, "val_acc": 0.5}],
        "checkpoints": {},
    }
    (folder / RUN_FILE).write_text(json.dumps(record))
    (folder / "blob.bin").write_bytes(b"x" * size)
    return folder


def test_rename_moves_the_folder_and_updates_run_json(tmp_path):
    a = _fake_run(tmp_path, "a")
    _fake_run(tmp_path, "taken")
    b = rename_run(a, "pets-baseline")
    assert b == tmp_path / "pets-baseline" and not a.exists()
    assert json.loads((b / RUN_FILE).read_text())["name"] == "pets-baseline"
    assert load_run(b).name == "pets-baseline" and load_run(b).dataset == "pets"
    for bad in ("", "  ", ".hidden", "x/y", "taken"):
        with pytest.raises(CheckpointError):
            rename_run(b, bad)
    assert b.is_dir()


def test_trash_moves_runs_aside_and_disk_usage_counts_both(tmp_path):
    a = _fake_run(tmp_path, "a", size=3000)
    _fake_run(tmp_path, "b", size=5000)
    before = disk_usage(tmp_path)
    assert before["trash"] == 0 and before["runs"] > 8000
    trashed = trash_run(a)
    assert trashed.parent == tmp_path / TRASH_DIR and (trashed / "blob.bin").is_file()
    assert [r.name for r in list_runs(tmp_path)] == ["b"]  # the trash is not a run
    after = disk_usage(tmp_path)
    assert after["runs"] + after["trash"] == before["runs"] and after["trash"] >= 3000
    _fake_run(tmp_path, "a")  # a new run of the same name, trashed too: no clash
    assert trash_run(tmp_path / "a") != trashed
    assert empty_trash(tmp_path) >= 4000 and not (tmp_path / TRASH_DIR).exists()


def test_continuing_a_finished_run_continues_its_schedule(demo_dir, tmp_path):
    """A finished run keeps no optimizer state; continuing it still follows the LR schedule of a run that
    was that long from the start (no second warm-up)."""
    from resnet_gui.engine.config import TrainConfig
    from resnet_gui.engine.train.loop import train
    from tests._fixtures import TINY

    straight = train(TrainConfig(data_dir=str(demo_dir), epochs=3, out_dir=str(tmp_path / "a"), **TINY))
    first = train(TrainConfig(data_dir=str(demo_dir), epochs=2, out_dir=str(tmp_path / "b"), **TINY))
    assert not Path(first.last_checkpoint).with_name("last.state.pt").exists()
    more = train(
        TrainConfig(
            data_dir=str(demo_dir),
            epochs=3,
            out_dir=str(tmp_path / "b"),
            resume=first.last_checkpoint,
            **TINY,
        )
    )
    assert [h["epoch"] for h in more.history] == [1, 2, 3]
    assert more.history[2]["lr"] == pytest.approx(straight.history[2]["lr"])
