"""Training in a child process (engine/train/runtime.py): same events, Stop, a killed child, errors.

Each test that trains starts a fresh interpreter (it imports torch: a few seconds); the fake children
(shell scripts standing in for the interpreter) cover the paths that need no training.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
import threading
from pathlib import Path

import pytest

from resnet_gui.engine import events as ev
from resnet_gui.engine.config import TrainConfig, TrainResult
from resnet_gui.engine.errors import EngineError, RunCrashed
from resnet_gui.engine.model.checkpoint import load_checkpoint
from resnet_gui.engine.train.loop import train
from resnet_gui.engine.train.runtime import TrainingProcess, describe_exit
from tests._fixtures import TINY, stop_on

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and shell-script children")


def _kinds(events: list) -> list[str]:
    """Event class names with runs of StepDone collapsed (how many are sent depends on timing)."""
    out: list[str] = []
    for e in events:
        name = type(e).__name__
        if not (name == "StepDone" and out and out[-1] == "StepDone"):
            out.append(name)
    return out


def _fake_python(tmp_path: Path, body: str) -> str:
    """An executable standing in for the interpreter (it ignores `-m resnet_gui.engine.train.child`)."""
    path = tmp_path / "fake-python"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_a_run_in_the_child_sends_what_train_sends(trained, demo_dir, tmp_path):
    _, in_process = trained  # the same config, run in this process by the shared fixture
    events: list = []
    threads: set[str] = set()

    def on_event(e):
        events.append(e)
        threads.add(threading.current_thread().name)

    proc = TrainingProcess()
    proc.launch()  # the interpreter starts (imports torch) before the config is known
    proc.ready.wait(120)  # warm: the run below then starts without the import wait
    proc.config = TrainConfig(data_dir=str(demo_dir), epochs=1, out_dir=str(tmp_path), **TINY)
    proc.on_event = on_event
    result = proc.run()

    assert proc.ready.is_set()  # the child said so before its first event
    assert _kinds(events) == _kinds(in_process)
    assert threads == {threading.current_thread().name}  # delivered on the caller's thread, like train()
    assert isinstance(result, TrainResult) and not result.stopped and result.epochs == 1
    finished = events[-1]
    assert isinstance(finished, ev.RunFinished) and finished.result == result
    assert isinstance(next(e for e in events if isinstance(e, ev.EvalDone)).result.images, list)
    state, meta = load_checkpoint(result.checkpoint)
    assert meta.classes == result.classes and meta.img_size == 32 and state
    run = json.loads((Path(result.checkpoint).parent / "run.json").read_text())
    assert run["status"] == "finished"


def test_stop_reaches_the_child(demo_dir, tmp_path):
    stop, events, on_event = stop_on(ev.StepDone)

    cfg = TrainConfig(data_dir=str(demo_dir), epochs=50, out_dir=str(tmp_path), **TINY)
    result = TrainingProcess(cfg, on_event).run(stop)
    assert result.stopped and result.epochs < 50
    assert isinstance(events[-1], ev.RunFinished) and not any(isinstance(e, ev.RunFailed) for e in events)
    load_checkpoint(result.checkpoint)  # what was learned before Stop is kept


def test_a_killed_child_becomes_run_failed_and_the_best_checkpoint_survives(demo_dir, tmp_path):
    events: list = []
    proc: TrainingProcess

    def on_event(e):
        events.append(e)
        if isinstance(e, ev.CheckpointSaved) and e.kind == "best" and proc.is_running():
            os.kill(proc.pid, signal.SIGKILL)

    cfg = TrainConfig(data_dir=str(demo_dir), epochs=50, out_dir=str(tmp_path), **TINY)
    proc = TrainingProcess(cfg, on_event)
    with pytest.raises(RunCrashed, match=r"signal 9 \(SIGKILL\)") as info:
        proc.run()
    assert info.value.returncode == -signal.SIGKILL and not info.value.on_request
    failed = [e for e in events if isinstance(e, ev.RunFailed)]
    assert len(failed) == 1 and events[-1] is failed[0]
    assert failed[0].error.startswith("training process died: killed by signal 9 (SIGKILL)")
    best = next(e.path for e in events if isinstance(e, ev.CheckpointSaved) and e.kind == "best")
    _, meta = load_checkpoint(best)  # a kill at any moment leaves the previous best loadable
    assert meta.classes == events[0].classes
    run = json.loads((Path(best).parent / "run.json").read_text())
    assert run["status"] == "failed" and "SIGKILL" in run["error"]


def test_an_engine_error_in_the_child_comes_back_as_itself(tmp_path):
    cfg = TrainConfig(data_dir=str(tmp_path / "no-such-folder"), epochs=1, out_dir=str(tmp_path), **TINY)
    with pytest.raises(EngineError) as here:
        train(cfg)
    events: list = []
    with pytest.raises(EngineError) as there:
        TrainingProcess(cfg, events.append).run()
    assert type(there.value) is type(here.value) and str(there.value) == str(here.value)
    assert not isinstance(there.value, RunCrashed)
    assert [type(e) for e in events] == [ev.RunFailed] and events[0].error == str(here.value)


def test_a_child_that_dies_at_once_reports_its_exit_and_last_stderr_lines(tmp_path):
    python = _fake_python(tmp_path, 'echo "Fatal Python error: Segmentation fault" >&2\nexit 3')
    events: list = []
    cfg = TrainConfig(data_dir=str(tmp_path), out_dir=str(tmp_path))
    with pytest.raises(RunCrashed) as info:
        TrainingProcess(cfg, events.append, python=python).run()
    msg = str(info.value)
    assert msg.startswith("training process died: exited with code 3")
    assert "Fatal Python error: Segmentation fault" in msg and info.value.stderr_tail
    assert [type(e) for e in events] == [ev.RunFailed] and events[0].error == msg


def test_a_child_that_ignores_stop_is_killed_after_the_grace_period(tmp_path):
    python = _fake_python(tmp_path, "trap '' INT TERM\nexec sleep 60")
    proc = TrainingProcess(TrainConfig(data_dir=str(tmp_path)), grace_s=0.2, python=python)
    stop = threading.Event()
    stop.set()
    with pytest.raises(RunCrashed, match="did not stop within 0.2 s") as info:
        proc.run(stop)
    assert info.value.on_request and not proc.is_running()


def test_a_second_stop_kills(tmp_path):
    python = _fake_python(tmp_path, "trap '' INT TERM\nexec sleep 60")
    events: list = []
    proc = TrainingProcess(TrainConfig(data_dir=str(tmp_path)), events.append, python=python)
    proc.start()
    proc.stop()
    assert proc.is_running()
    proc.stop()
    assert proc.wait(30)
    assert isinstance(proc.error, RunCrashed) and proc.error.on_request
    assert "Stop was pressed twice" in str(proc.error)
    assert [type(e) for e in events] == [ev.RunFailed]


def test_exit_descriptions():
    assert describe_exit(-9).startswith("killed by signal 9 (SIGKILL)")
    assert describe_exit(-11) == "killed by signal 11 (SIGSEGV)"
    assert describe_exit(1) == "exited with code 1"
