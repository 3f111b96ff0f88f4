"""End of a run: the best model is evaluated on the val split; run.json keeps config, curves and results."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from resnet_gui.engine import events as ev
from resnet_gui.engine.config import TrainConfig
from resnet_gui.engine.model.checkpoint import load_checkpoint
from resnet_gui.engine.runs import RUN_FILE, RunRecorder, list_runs, load_run
from resnet_gui.engine.train.loop import train
from tests._fixtures import TINY, stop_on


@pytest.fixture(scope="module")
def two_epochs(demo_dir, tmp_path_factory):
    """A 2-epoch run; run.json is read back at every EpochDone, right after the engine reports it."""
    out = tmp_path_factory.mktemp("runs")
    events: list = []
    seen_on_disk: list[dict] = []

    def on_event(e):
        events.append(e)
        if isinstance(e, ev.EpochDone):
            run_dir = next(x for x in events if isinstance(x, ev.RunStarted)).out_dir
            seen_on_disk.append(json.loads((Path(run_dir) / RUN_FILE).read_text()))

    result = train(TrainConfig(data_dir=str(demo_dir), epochs=2, out_dir=str(out), **TINY), on_event=on_event)
    return result, events, seen_on_disk, out


def test_finished_run_evaluates_its_best_model_on_the_val_split(two_epochs):
    result, events, _, _ = two_epochs
    kinds = [type(e) for e in events]
    assert kinds[-3:] == [ev.EvalStarted, ev.EvalDone, ev.RunFinished]
    started = events[0]
    ev_result = events[-2].result
    assert ev_result.split == "val" and ev_result.num_images == started.num_val > 0
    assert sum(map(sum, ev_result.confusion_matrix)) == ev_result.num_images
    assert len(ev_result.images) == ev_result.num_images
    # the same model on the same images as the best epoch's validation: the same accuracy
    assert ev_result.accuracy == pytest.approx(result.best_val_acc)
    assert ev_result.checkpoint == result.checkpoint
    # the summary (no per-image list) is in the result and in the best checkpoint's metadata
    assert result.evaluation == ev_result.summary() and "images" not in result.evaluation
    _, meta = load_checkpoint(result.checkpoint)
    assert meta.metrics["eval"]["confusion_matrix"] == ev_result.confusion_matrix
    assert meta.metrics["eval"]["accuracy"] == pytest.approx(ev_result.accuracy)
    assert meta.metrics["best_val_acc"] == pytest.approx(result.best_val_acc)  # the rest is untouched
    assert result.to_json()["evaluation"]["num_images"] == started.num_val


def test_run_json_is_rewritten_each_epoch_and_completed_at_the_end(two_epochs):
    result, _, seen_on_disk, out = two_epochs
    assert [len(doc["history"]) for doc in seen_on_disk] == [1, 2]
    assert all(doc["status"] == "running" for doc in seen_on_disk)
    run_dir = Path(result.checkpoint).parent
    doc = json.loads((run_dir / RUN_FILE).read_text())
    assert doc["status"] == "finished"
    assert doc["history"] == json.loads(json.dumps(result.history))
    assert doc["config"]["epochs"] == 2 and doc["config"]["seed"] == TINY["seed"]
    assert doc["config"]["img_size"] == 32 and doc["classes"] == result.classes
    assert doc["checkpoints"] == {"best": "best.safetensors", "last": "last.safetensors"}
    assert doc["final"]["best_val_acc"] == pytest.approx(result.best_val_acc)
    assert doc["evaluation"]["confusion_matrix"] == result.evaluation["confusion_matrix"]
    assert not list(run_dir.glob("*.tmp"))  # atomic writes leave no temp files behind

    runs = list_runs(out)
    assert [r.path for r in runs] == [str(run_dir)]
    run = runs[0]
    assert run.status == "finished" and run.epochs == 2 and run.checkpoint == result.checkpoint
    assert run.best_val_acc == pytest.approx(result.best_val_acc)
    assert "2 epochs" in run.label() and run.arch in run.label()


def test_continued_run_keeps_its_history_in_run_json(two_epochs, demo_dir):
    result, _, _, _ = two_epochs
    run_dir = Path(result.checkpoint).parent
    started_before = json.loads((run_dir / RUN_FILE).read_text())["started"]
    more = train(TrainConfig(data_dir=str(demo_dir), epochs=3, resume=result.last_checkpoint, **TINY))
    doc = json.loads((run_dir / RUN_FILE).read_text())
    assert [row["epoch"] for row in doc["history"]] == [1, 2, 3]
    assert doc["started"] == started_before and doc["config"]["epochs"] == 3
    assert doc["status"] == "finished" and more.evaluation is not None


def test_stopped_run_skips_the_evaluation_and_says_so(demo_dir, tmp_path):
    stop, events, on_event = stop_on(ev.RunStarted)

    result = train(
        TrainConfig(data_dir=str(demo_dir), epochs=3, out_dir=str(tmp_path), **TINY), on_event, stop
    )
    assert result.stopped and result.evaluation is None
    assert not any(isinstance(e, ev.EvalStarted | ev.EvalDone) for e in events)
    doc = json.loads((Path(result.checkpoint).parent / RUN_FILE).read_text())
    assert doc["status"] == "stopped"


def test_failed_run_is_marked_failed(tmp_path):
    forwarded: list = []
    rec = RunRecorder({"data_dir": "x"}, forwarded.append)
    start = ev.RunStarted("resnet18", "cpu", "CPU", ["a", "b"], 4, 2, 3, 0, 1, 32, str(tmp_path / "r"))
    (tmp_path / "r").mkdir()
    rec(start)
    rec(ev.RunFailed("disk on fire"))
    assert forwarded == [start, ev.RunFailed("disk on fire")]
    doc = json.loads((tmp_path / "r" / RUN_FILE).read_text())
    assert doc["status"] == "failed" and doc["error"] == "disk on fire" and doc["history"] == []


def test_older_runs_without_run_json_are_listed_from_their_checkpoint(checkpoint, tmp_path):
    old = tmp_path / "old-run"
    old.mkdir()
    os.link(checkpoint, old / "best.safetensors")  # a hard link: no 45 MB copy
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / RUN_FILE).write_text("{not json")
    (tmp_path / "empty").mkdir()
    runs = list_runs(tmp_path)
    assert [r.name for r in runs] == ["old-run"]
    assert runs[0].status == "unknown" and runs[0].epochs == 1 and runs[0].arch == "resnet18"
    assert load_run(old / "best.safetensors").history == runs[0].history
    assert list_runs(tmp_path / "missing") == []
