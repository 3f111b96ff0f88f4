"""Issue 6, faults: kill -9 at random moments, disk full / read-only output, out of memory, device errors,
resume after a kill. The kill loop here is short (a few kills); `benchmarks/kill_loop.py` and the slow test
below run the long one with the real `python -m resnet_gui train` command."""

from __future__ import annotations

import errno
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import pytest
import torch

from resnet_gui.cli import main as cli_main
from resnet_gui.engine import events as ev
from resnet_gui.engine import fileio
from resnet_gui.engine.config import TrainConfig
from resnet_gui.engine.errors import CheckpointError, DeviceOutOfMemory
from resnet_gui.engine.model.checkpoint import load_checkpoint, load_training_state, training_state_path
from resnet_gui.engine.train import loop as train_module
from resnet_gui.engine.train import optim as optim_module
from resnet_gui.engine.train.loop import train
from resnet_gui.engine.train.resume import resume_point
from tests._fixtures import TINY, keep_thread_count, steady_threads

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def data(tmp_path: Path, demo_dir: Path) -> Path:
    """2 classes x 8 images at 32 px: about a second per epoch."""
    for cls in ("circle", "square"):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for src in sorted((demo_dir / cls).glob("*.png"))[:8]:
            shutil.copyfile(src, tmp_path / "data" / cls / src.name)
    return tmp_path / "data"


@pytest.fixture
def one_thread():
    """Runs compared across processes use the same thread count, so float sums agree exactly."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with steady_threads():  # and every epoch keeps it, whatever the machine's load
        yield
    torch.set_num_threads(before)


def _cfg(data: Path, out: Path, **kw) -> TrainConfig:
    """last_every=1: `last` after every epoch, however short (the default spaces the writes by
    LAST_INTERVAL_S, and these epochs take a second)."""
    return TrainConfig(
        data_dir=str(data),
        out_dir=str(out),
        **{**TINY, "batch_size": 8, "epochs": 2, "val_split": 0.25, "last_every": 1, **kw},
    )


def _temps(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.tmp"))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --- kill -9 ------------------------------------------------------------------------------------------


def _child_context():
    """Children fork from a fresh single-threaded server: forking this busy process (OpenMP, Rust and
    other thread pools) can deadlock the child. The server imports torch once, so a child starts fast."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["resnet_gui.engine.train.loop"])
    return ctx


def _train_in_child(cfg: TrainConfig, hang_after_epoch: int | None = None) -> None:
    """Train in this (child) process; with `hang_after_epoch`, wait for the kill once that epoch is saved."""
    torch.set_num_threads(1)  # the same thread count as the runs it is compared with
    keep_thread_count()

    def on_event(e: object) -> None:
        if isinstance(e, ev.CheckpointSaved) and e.kind == "best" and e.epoch == hang_after_epoch:
            threading.Event().wait()  # until SIGKILL: the next epoch never starts, however slow the machine

    try:
        train(cfg, on_event=on_event)
    finally:
        os._exit(0)


def _saved_epoch(path: Path) -> int | None:
    try:
        _, meta = load_checkpoint(path)
    except CheckpointError:
        return None
    return int(meta.metrics.get("epoch", -1))


def _check_after_kill(run_dirs: list[Path], best_before: dict[Path, bytes]) -> None:
    """The invariants a kill must never break."""
    for run_dir in run_dirs:
        best, last = run_dir / "best.safetensors", run_dir / "last.safetensors"
        if best in best_before:  # a best that existed before this kill still exists and loads
            assert best.exists()
        if best.exists():
            load_checkpoint(best)
        if last.exists():
            _, meta = load_checkpoint(last)
            state = load_training_state(training_state_path(last))
            if state["epoch"] != meta.metrics["epoch"]:
                # The kill landed between the pair's two renames: fileio.atomic_write_many allows that mix
                # (for microseconds; a busy machine can stretch them), and --resume must see it and use the
                # weights without that state.
                assert resume_point(TrainConfig(data_dir="", resume=str(last))).state is None
            else:
                assert state["epoch"] == meta.metrics["epoch"]  # the pair matches


def kill_loop(data: Path, out: Path, kills: int, seed: int, max_delay: float) -> dict:
    """Train (resuming whenever possible) in a child process and SIGKILL it at seeded random moments."""
    rng = random.Random(seed)
    ctx = _child_context()
    epochs = 40  # never reached: every run is killed
    stats = {"kills": 0, "temps_seen": 0, "resumed": 0}
    for i in range(kills):
        run_dirs = sorted(p for p in out.glob("*") if p.is_dir())
        best_before = {d / "best.safetensors": b"" for d in run_dirs if (d / "best.safetensors").exists()}
        last = next((d / "last.safetensors" for d in run_dirs if (d / "last.safetensors").exists()), None)
        cfg = _cfg(data, out, epochs=epochs, resume=str(last) if last else None, run_name="killed")
        stats["resumed"] += last is not None
        child = ctx.Process(target=_train_in_child, args=(cfg,))
        child.start()
        if i == 0:  # the first kill comes after epoch 1 is saved, so every later run resumes
            deadline = time.monotonic() + 120
            while not (out / "killed" / "last.safetensors").exists():
                assert child.is_alive() and time.monotonic() < deadline
                time.sleep(0.01)
        time.sleep(rng.uniform(0.05, max_delay))
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        stats["kills"] += 1
        stats["temps_seen"] += len(_temps(out))
        _check_after_kill(sorted(p for p in out.glob("*") if p.is_dir()), best_before)
    return stats


def test_kill_minus_9_loop_short(data: Path, tmp_path: Path):
    out = tmp_path / "runs"
    stats = kill_loop(data, out, kills=3, seed=6, max_delay=1.5)
    assert stats["kills"] == 3 and stats["resumed"] == 2
    # What the next run does first (test_stale_temp_files_... runs a whole one): temps of the dead go.
    (out / "killed" / f".last.safetensors.{_dead_pid()}.abcd.tmp").write_bytes(b"half a file")
    fileio.clean_stale_temp_files(out, recursive=True)
    assert _temps(out) == []


@pytest.mark.slow
def test_kill_minus_9_loop_long_with_the_cli(data: Path, tmp_path: Path):
    """10 kills of the real command line, resuming each time (several minutes on 2 busy cores)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from kill_loop import run_kill_loop

    report = run_kill_loop(data, tmp_path / "runs", kills=10, seed=1)
    assert report["kills"] == 10 and report["resumed"] == 9 and report["violations"] == []
    assert report["temps_after_final_run"] == 0


def test_stale_temp_files_are_cleaned_but_live_ones_kept(data: Path, tmp_path: Path):
    out = tmp_path / "runs"
    old_run = out / "old-run"
    old_run.mkdir(parents=True)
    dead = old_run / f".best.safetensors.{_dead_pid()}.x1y2.tmp"
    live = old_run / f".best.safetensors.{os.getpid()}.x1y2.tmp"  # a writer that is still alive
    foreign = old_run / "notes.tmp"  # not our pattern
    for p in (dead, live, foreign):
        p.write_bytes(b"partial")
    train(_cfg(data, out, epochs=1))
    assert not dead.exists() and live.exists() and foreign.exists()


def test_resume_after_kill_matches_an_uninterrupted_run(data: Path, tmp_path: Path, one_thread):
    straight = train(_cfg(data, tmp_path / "a", epochs=3))
    ctx = _child_context()
    cfg = _cfg(data, tmp_path / "b", epochs=3, run_name="run")
    child = ctx.Process(target=_train_in_child, args=(cfg, 1))
    child.start()
    last = tmp_path / "b" / "run" / "last.safetensors"
    deadline = time.monotonic() + 120
    while _saved_epoch(last) != 1:  # wait for epoch 1 on disk, then kill (the child waits for it)
        assert child.is_alive() and time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    assert _saved_epoch(last) == 1
    events: list = []
    resumed = train(_cfg(data, tmp_path / "b", epochs=3, resume=str(last)), on_event=events.append)
    assert events[0].start_epoch == 1 and resumed.epochs == 3
    for a, b in zip(straight.history, resumed.history, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)
        assert b["val_acc"] == pytest.approx(a["val_acc"])
    sa, _ = load_checkpoint(straight.last_checkpoint)
    sb, _ = load_checkpoint(resumed.last_checkpoint)
    assert all(torch.allclose(sa[k].float(), sb[k].float(), atol=1e-5) for k in sa)


# --- disk full, read-only -------------------------------------------------------------------------------


def test_disk_full_while_saving_is_a_clear_error_and_the_old_checkpoint_survives(
    data: Path, tmp_path: Path, monkeypatch
):
    full = threading.Event()
    real_fsync = os.fsync

    def fsync(fd):
        if full.is_set():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(fileio.os, "fsync", fsync)
    saved: dict[str, bytes] = {}
    events: list = []

    def on_event(e):
        events.append(e)
        if isinstance(e, ev.CheckpointSaved) and e.epoch == 1:
            saved[e.kind] = Path(e.path).read_bytes()
        if isinstance(e, ev.EpochDone) and e.epoch == 2:
            full.set()  # the disk fills up before epoch 2 is saved

    with pytest.raises(CheckpointError, match="could not write .*last.safetensors: No space left on device"):
        train(_cfg(data, tmp_path / "runs", epochs=3), on_event=on_event)
    assert isinstance(events[-1], ev.RunFailed) and "No space left" in events[-1].error
    run_dir = next((tmp_path / "runs").iterdir())
    assert (run_dir / "last.safetensors").read_bytes() == saved["last"]  # untouched, still epoch 1
    assert (run_dir / "best.safetensors").read_bytes() == saved["best"]
    assert _saved_epoch(run_dir / "best.safetensors") == 1
    assert load_training_state(run_dir / "last.state.pt")["epoch"] == 1
    assert _temps(tmp_path / "runs") == []  # the failed writes removed their temp files


def test_too_little_free_space_is_detected_before_training(data: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(
        fileio.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9, 5_000_000)
    )
    events: list = []
    with pytest.raises(
        CheckpointError, match="only 5 MB free in .*; saving checkpoints needs about 2\\d\\d MB"
    ):
        train(_cfg(data, tmp_path / "runs"), on_event=events.append)
    assert not any(isinstance(e, (ev.RunStarted, ev.StepDone)) for e in events)


def test_read_only_output_folder_is_detected_before_training(data: Path, tmp_path: Path, monkeypatch):
    """As root chmod cannot make a folder read-only, so the write probe is made to fail as EROFS would."""
    first = train(_cfg(data, tmp_path / "runs", epochs=1, run_name="r"))
    before = Path(first.checkpoint).read_bytes()
    real_mkstemp = fileio.tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).is_relative_to(tmp_path / "runs"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(fileio.tempfile, "mkstemp", mkstemp)
    events: list = []
    with pytest.raises(CheckpointError, match="cannot write checkpoints to .*: Read-only file system"):
        train(_cfg(data, tmp_path / "runs", epochs=2, resume=first.last_checkpoint), on_event=events.append)
    assert not any(isinstance(e, ev.RunStarted) for e in events)
    assert Path(first.checkpoint).read_bytes() == before


def test_really_read_only_location_is_refused(data: Path, tmp_path: Path, capsys):
    """/sys cannot be written even by root: the real error, end to end through the CLI."""
    target = Path("/sys/resnet-gui-robustness-test")
    try:
        target.mkdir()
    except OSError:
        pass
    else:
        target.rmdir()
        pytest.skip("/sys is writable here")
    code = cli_main(
        ["train", str(data), "--epochs", "1", "--img-size", "32", "--workers", "0", "--out", str(target)]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: cannot write checkpoints to {target}")
    assert "Traceback" not in err


@pytest.mark.skipif(IS_ROOT, reason="root ignores file permissions (the EROFS test above covers it)")
def test_chmod_read_only_output_folder(data: Path, tmp_path: Path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        with pytest.raises(CheckpointError, match="cannot write checkpoints to .*permission denied"):
            train(_cfg(data, out))
    finally:
        out.chmod(0o755)


# --- out of memory, device errors -----------------------------------------------------------------------


class _Failing(torch.nn.Module):
    """Wraps a model; its forward raises a new `error_type(message)` from call number `at` on."""

    def __init__(self, inner: torch.nn.Module, error_type: type, message: str, at: int):
        super().__init__()
        self.inner, self.error_type, self.message, self.at, self.calls = inner, error_type, message, at, 0

    def forward(self, x):
        self.calls += 1
        if self.calls >= self.at:
            raise self.error_type(self.message)
        return self.inner(x)


def _inject(monkeypatch, error_type: type, message: str, at: int = 3) -> list:
    models: list = []
    real_build = train_module.build_model

    def build_model(*args, **kwargs):
        model = _Failing(real_build(*args, **kwargs), error_type, message, at)
        models.append(weakref.ref(model))
        return model

    monkeypatch.setattr(train_module, "build_model", build_model)
    monkeypatch.setattr(optim_module, "backbone_and_head_params", lambda m: ([], list(m.parameters())))
    return models


def test_cuda_out_of_memory_is_caught_memory_released_and_a_smaller_batch_suggested(
    data: Path, tmp_path: Path, monkeypatch
):
    models = _inject(monkeypatch, torch.OutOfMemoryError, "CUDA out of memory. Tried to allocate 2.00 GiB")
    events: list = []
    with pytest.raises(DeviceOutOfMemory, match="ran out of memory with batch size 8: try batch size 4"):
        train(_cfg(data, tmp_path / "runs"), on_event=events.append)
    assert isinstance(events[-1], ev.RunFailed) and "try batch size 4" in events[-1].error
    assert models and models[0]() is None  # the model (and its activations) are no longer referenced
    assert isinstance(torch.cuda.OutOfMemoryError("x"), torch.OutOfMemoryError)  # what CUDA raises


def test_out_of_memory_through_the_cli_is_one_line(data: Path, tmp_path: Path, monkeypatch, capsys):
    _inject(monkeypatch, torch.OutOfMemoryError, "CUDA out of memory.")
    code = cli_main(
        ["train", str(data), "--epochs", "1", "--batch-size", "8", "--img-size", "32"]
        + ["--workers", "0", "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "error: the device ran out of memory with batch size 8: try batch size 4" in err
    assert "Traceback" not in err


def test_device_error_mid_run_stops_cleanly(data: Path, tmp_path: Path, monkeypatch, capsys):
    _inject(monkeypatch, RuntimeError, "CUDA error: an illegal memory access was encountered", at=2)
    events: list = []
    with pytest.raises(RuntimeError, match="illegal memory access"):
        train(_cfg(data, tmp_path / "runs"), on_event=events.append)
    assert isinstance(events[-1], ev.RunFailed) and "illegal memory access" in events[-1].error
    code = cli_main(
        [
            "train",
            str(data),
            "--epochs",
            "1",
            "--img-size",
            "32",
            "--workers",
            "0",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "error: RuntimeError: CUDA error: an illegal memory access" in err
    assert "Traceback" not in err


def test_asking_for_a_missing_device_is_a_clear_error(data: Path, tmp_path: Path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code = cli_main(["train", str(data), "--device", "cuda", "--epochs", "1", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "CUDA" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
