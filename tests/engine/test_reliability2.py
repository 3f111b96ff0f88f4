"""Issue 15, reliability round two (engine side): nothing lost on resume, one writer per run folder, every
temp file cleaned, no tiny file that takes the machine down, metadata validated, every drop named.
Each test names its item of the issue; docs/RELIABILITY.md section 5 lists them."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import threading
import warnings
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from resnet_gui.engine import events as ev
from resnet_gui.engine import fileio
from resnet_gui.engine.config import TrainConfig
from resnet_gui.engine.data import images
from resnet_gui.engine.data.scan import scan_dataset
from resnet_gui.engine.errors import CheckpointError, DatasetError, EngineError, ImageLoadError
from resnet_gui.engine.model import checkpoint as ckpt
from resnet_gui.engine.model.weights import METADATA_KEY, read_state_dict
from resnet_gui.engine.runs import RUN_FILE, RunRecorder, load_run
from resnet_gui.engine.train.loop import train
from tests._fixtures import TINY

ROOT = Path(__file__).resolve().parents[2]


def _cfg(data: Path, **kw) -> TrainConfig:
    return TrainConfig(data_dir=str(data), **{**TINY, "epochs": 2, "val_split": 0.25, **kw})


def _copy_run(trained, dest: Path) -> Path:
    """A copy of the session's trained run folder (best, last, its state, run.json) at `dest`."""
    src = Path(trained[0].last_checkpoint).parent
    shutil.copytree(src, dest)
    return dest


def _rewrite_meta(src: Path, dst: Path, **changes) -> Path:
    """`src` with its metadata fields changed (None: removed), written as a new .safetensors file."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(src), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        header = json.loads(f.metadata()[METADATA_KEY])
    for key, value in changes.items():
        if value is None:
            header.pop(key, None)
        else:
            header[key] = value
    save_file(tensors, str(dst), metadata={METADATA_KEY: json.dumps(header)})
    return dst


# -- 1. a resume continues exactly the file it was given, and writes only into its own run folder ---------


def test_resume_of_a_loose_file_writes_a_fresh_folder_and_keeps_the_unrelated_best(
    trained, demo_dir, tmp_path
):
    theirs = tmp_path / "mine"
    theirs.mkdir()
    last = Path(trained[0].last_checkpoint)
    shutil.copyfile(last, theirs / "mine.safetensors")
    state = ckpt.training_state_path(last)  # a finished run keeps none (train/saver.py finish)
    if state.exists():
        shutil.copyfile(state, theirs / "mine.state.pt")
    shutil.copyfile(trained[0].checkpoint, theirs / "best.safetensors")  # someone else's best model
    before = {p.name: p.read_bytes() for p in theirs.iterdir()}

    events: list = []
    result = train(
        _cfg(demo_dir, resume=str(theirs / "mine.safetensors"), out_dir=str(tmp_path / "outx")), events.append
    )
    assert Path(result.checkpoint).parent.parent == tmp_path / "outx"  # --out is honoured
    assert {p.name: p.read_bytes() for p in theirs.iterdir()} == before  # nothing replaced, nothing added
    assert events[0].start_epoch == 1 and result.epochs == 2


def test_resume_without_state_continues_the_given_file_not_a_sibling_last(trained, demo_dir, tmp_path):
    run = _copy_run(trained, tmp_path / "runs" / "r")
    mine = _rewrite_meta(run / "last.safetensors", run / "mine.safetensors")  # same weights, no state beside
    # the sibling last says 3 epochs: a fallback to it would start after epoch 3
    _rewrite_meta(run / "last.safetensors", run / "last.safetensors", metrics={"epoch": 3})
    # and its state (a finished run keeps none: write one) says so too
    ckpt.save_training_state(run / "last.state.pt", {"epoch": 3})
    events: list = []
    train(_cfg(demo_dir, resume=str(mine), epochs=2, out_dir=str(tmp_path / "out")), events.append)
    assert events[0].start_epoch == 1


def test_a_sibling_best_of_another_model_is_never_replaced(trained, demo_dir, tmp_path):
    run = _copy_run(trained, tmp_path / "runs" / "r")
    foreign = _rewrite_meta(
        run / "best.safetensors", tmp_path / "foreign.safetensors", classes=["a", "b", "c", "d"]
    )
    shutil.copyfile(foreign, run / "best.safetensors")
    before = (run / "best.safetensors").read_bytes()
    result = train(_cfg(demo_dir, resume=str(run / "last.safetensors"), out_dir=str(tmp_path / "runs")))
    assert (run / "best.safetensors").read_bytes() == before
    assert Path(result.checkpoint).parent != run and result.evaluation is not None  # evaluated its own best


def test_resume_of_a_runs_last_continues_in_its_folder(trained, demo_dir, tmp_path):
    run = _copy_run(trained, tmp_path / "runs" / "r")
    result = train(_cfg(demo_dir, resume=str(run / "last.safetensors"), out_dir=str(tmp_path / "runs")))
    assert Path(result.checkpoint).parent == run and result.epochs == 2
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["r"]


# -- 2. one writer per run folder; a killed writer leaves no stuck lock --------------------------------------


def test_a_second_writer_of_a_run_folder_is_refused_and_the_lock_is_released(trained, demo_dir, tmp_path):
    run = _copy_run(trained, tmp_path / "runs" / "r")
    cfg = _cfg(demo_dir, resume=str(run / "last.safetensors"), out_dir=str(tmp_path / "runs"))
    other = fileio.FolderLock(run).acquire()  # another run writes this folder (flock: per open file)
    before = (run / "best.safetensors").read_bytes()
    with pytest.raises(EngineError, match="is in use by another training run"):
        train(cfg)
    assert (run / "best.safetensors").read_bytes() == before
    other.release()
    assert train(cfg).epochs == 2  # free again
    assert not fileio.folder_locked(run)  # and released at the end of the run


_HOLD = (
    "import sys, time; from resnet_gui.engine.fileio import FolderLock; "
    "FolderLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(120)"
)


def _holder(folder: Path) -> subprocess.Popen:
    p = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(folder)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_lock_held_by_a_process_killed_with_sigkill_is_free(tmp_path):
    folder = tmp_path / "run"
    holder = _holder(folder)
    try:
        assert fileio.folder_locked(folder)
        with pytest.raises(EngineError, match=f"pid {holder.pid}"):
            fileio.FolderLock(folder).acquire()
    finally:
        holder.kill()
        holder.wait()
    assert not fileio.folder_locked(folder)
    fileio.FolderLock(folder).acquire().release()


# -- 3. every temp file we can have created is cleaned; an ended run never stays "running" ------------------


def test_safetensors_own_temp_files_are_cleaned_only_where_no_live_run_writes(tmp_path):
    out = tmp_path / "runs"
    dead, live, other = out / "dead", out / "live", out / "not-a-run"
    for d in (dead, live, other):
        d.mkdir(parents=True)
    (dead / "run.json").write_text("{}")
    (live / "last.safetensors").write_bytes(b"x")
    for d in (dead, live, other):
        (d / ".tmpAb12Cd").write_bytes(b"\0" * 1000)  # what safetensors' save_file leaves on a kill
    (out / ".tmpZz99Yy").write_bytes(b"")  # in the output folder itself: not a run folder
    holder = _holder(live)
    try:
        removed = fileio.clean_stale_temp_files(out, recursive=True)
    finally:
        holder.kill()
        holder.wait()
    assert removed == [dead / ".tmpAb12Cd"]
    assert (live / ".tmpAb12Cd").exists() and (other / ".tmpAb12Cd").exists()
    assert fileio.clean_stale_temp_files(out, recursive=True) == [live / ".tmpAb12Cd"]  # its writer is gone


def test_the_run_folder_is_cleaned_of_safetensors_temps_when_a_run_resumes(trained, demo_dir, tmp_path):
    run = _copy_run(trained, tmp_path / "runs" / "r")
    (run / ".tmp9xYz0Q").write_bytes(b"\0" * 4096)
    train(_cfg(demo_dir, resume=str(run / "last.safetensors"), out_dir=str(tmp_path / "runs")))
    assert not list(run.glob(".tmp*"))


def test_a_run_aborted_by_a_second_ctrl_c_is_marked_interrupted(demo_dir, tmp_path):
    def on_event(e):
        if isinstance(e, ev.EpochDone):
            raise KeyboardInterrupt  # what the CLI's second Ctrl+C raises

    with pytest.raises(KeyboardInterrupt):
        train(_cfg(demo_dir, out_dir=str(tmp_path), run_name="r"), on_event)
    assert json.loads((tmp_path / "r" / RUN_FILE).read_text())["status"] == "interrupted"
    assert not fileio.folder_locked(tmp_path / "r")


def test_a_running_run_whose_process_is_gone_reads_as_interrupted(tmp_path):
    rec = RunRecorder({"data_dir": "d"})
    rec(ev.RunStarted("resnet18", "cpu", "CPU", ["a", "b"], 4, 2, 3, 0, 1, 32, str(tmp_path / "r")))
    rec(ev.EpochDone(1, 3, 1.0, 0.5, 1.0, 0.5, 1e-3, 1.0, 10.0, True, 2.0))
    assert json.loads((tmp_path / "r" / RUN_FILE).read_text())["status"] == "running"
    assert load_run(tmp_path / "r").status == "interrupted"  # kill -9: nobody holds its lock
    lock = fileio.FolderLock(tmp_path / "r").acquire()
    assert load_run(tmp_path / "r").status == "running"
    lock.release()


# -- 4. no tiny image takes the machine down ------------------------------------------------------------------


def test_a_20000_by_1_png_is_bounded_to_its_centre(tmp_path):
    path = tmp_path / "line.png"
    Image.new("RGB", (20000, 1), (200, 10, 10)).save(path)
    assert path.stat().st_size < 1000
    for img in (images.load_image(path), images.load_image_reduced(path, 256)):
        assert img.size == (10, 1)
    tall = tmp_path / "tall.png"
    Image.new("L", (3, 9000)).save(tall)
    assert images.load_image(tall).size == (3, 30)
    assert images.load_image(tmp_path / "line.png").getpixel((5, 0)) == (200, 10, 10)
    # a normal photo shape is untouched
    normal = tmp_path / "n.png"
    Image.new("RGB", (640, 90)).save(normal)
    assert images.load_image(normal).size == (640, 90)


def test_predicting_a_20000_by_1_png_is_quick_and_small(checkpoint, tmp_path):
    from resnet_gui.engine.infer.predict import Predictor

    path = tmp_path / "line.png"
    Image.new("RGB", (20000, 1), (200, 10, 10)).save(path)
    pred = Predictor(checkpoint, device="cpu", warmup=False).predict_one(path)
    assert pred.error is None and pred.topk


# -- 5. a zip bomb in a .pth is refused from its declared sizes ----------------------------------------------


def _deflated_torch_file(path: Path, numel: int) -> Path:
    buf = io.BytesIO()
    torch.save({"fc.weight": torch.zeros(numel)}, buf)
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info), compress_type=zipfile.ZIP_DEFLATED)
    return path


def test_a_deflated_pth_that_expands_hugely_is_refused_before_loading(tmp_path):
    bomb = _deflated_torch_file(tmp_path / "bomb.pth", 8 * 2**20)  # 32 MB of zeros in ~32 kB
    assert bomb.stat().st_size < 200_000
    with pytest.raises(CheckpointError, match="zip bomb"):
        read_state_dict(bomb)


def test_declared_contents_beyond_the_limit_are_refused(tmp_path, monkeypatch):
    from resnet_gui.engine.model import weights

    path = tmp_path / "big.pth"
    torch.save({"fc.weight": torch.zeros(300_000)}, path)  # 1.2 MB declared
    monkeypatch.setattr(weights, "MAX_UNCOMPRESSED_BYTES", 1_000_000)
    with pytest.raises(CheckpointError, match="declares .* GB of contents"):
        read_state_dict(path)


# -- 6. every metadata field is validated, with training's bounds, and named -------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"img_size": 5000}, "img_size"),
        ({"img_size": "224"}, "img_size"),
        ({"img_size": 8}, "img_size"),
        ({"classes": "abcd"}, "classes"),
        ({"classes": ["a", "a", "b", "c"]}, "classes"),
        ({"classes": ["a", 2, "b", "c"]}, "classes"),
        ({"classes": ["a", "", "b", "c"]}, "classes"),
        ({"mean": [0.5, 0.5]}, "mean"),
        ({"std": [0.2, 0.0, 0.2]}, "std"),
        ({"mean": "xyz"}, "mean"),
        ({"arch": 18}, "arch"),
        ({"arch": "resnet9000"}, "arch"),
        ({"history": "x"}, "history"),
        ({"history": [1, 2]}, "history"),
        ({"metrics": []}, "metrics"),
        ({"metrics": {"epoch": "3"}}, "metrics.epoch"),
        ({"config": "x"}, "config"),
        ({"version": "1"}, "version"),
        ({"warnings": "x"}, "warnings"),
    ],
)
def test_bad_metadata_is_refused_naming_the_field(checkpoint, tmp_path, changes, field):
    bad = _rewrite_meta(checkpoint, tmp_path / "bad.safetensors", **changes)
    with pytest.raises(CheckpointError, match=f"metadata field '{field}'"):
        ckpt.load_checkpoint(bad)


def test_deeply_nested_metadata_is_a_clear_error(checkpoint, tmp_path):
    bad = _rewrite_meta(checkpoint, tmp_path / "deep.safetensors", config=None)
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(bad), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        text = f.metadata()[METADATA_KEY]
    deep = text[:-1] + ', "config": ' + "[" * 100_000 + "]" * 100_000 + "}"
    save_file(tensors, str(bad), metadata={METADATA_KEY: deep})
    with pytest.raises(CheckpointError, match="metadata is not JSON"):
        ckpt.load_checkpoint(bad)


def test_a_resumed_checkpoint_with_unusable_saved_settings_is_named(trained, demo_dir, tmp_path):
    run = _copy_run(trained, tmp_path / "runs" / "r")
    meta = json.loads(
        json.dumps(ckpt.load_checkpoint(run / "last.safetensors")[1].config)
    )  # the saved TrainConfig
    _rewrite_meta(run / "last.safetensors", run / "last.safetensors", config={**meta, "lr": "fast"})
    with pytest.raises(CheckpointError, match="'config.lr'"):
        train(_cfg(demo_dir, resume=str(run / "last.safetensors"), out_dir=str(tmp_path / "runs")))


# -- 7. only regular files are images ----------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_named_like_an_image_is_refused_at_once(tmp_path):
    fifo = tmp_path / "b.png"
    os.mkfifo(fifo)
    outcome: list = []

    def load():
        try:
            images.load_image(fifo)
        except ImageLoadError as exc:
            outcome.append(exc.reason)

    t = threading.Thread(target=load, daemon=True)
    t.start()
    t.join(timeout=20)
    assert not t.is_alive(), "load_image hung on a FIFO"
    assert outcome == ["not a regular file (a FIFO)"]
    with pytest.raises(ImageLoadError, match="regular file"):
        images.image_info(fifo)


# -- 8. every problem the Dataset view shows reaches the result and run.json --------------------------------


def _small(demo_dir: Path, dest: Path, classes=("circle", "square"), n: int = 4) -> Path:
    for c in classes:
        (dest / c).mkdir(parents=True, exist_ok=True)
        for src in sorted((demo_dir / c).glob("*.png"))[:n]:
            shutil.copyfile(src, dest / c / src.name)
    return dest


def test_dataset_problems_reach_the_result_the_start_event_and_run_json(demo_dir, tmp_path):
    data = _small(demo_dir, tmp_path / "data")
    (data / "empty").mkdir()
    (data / "zeros").mkdir()
    (data / "zeros" / "z.png").write_bytes(b"")
    (data / "circle" / "nothing.png").write_bytes(b"")
    events: list = []
    result = train(_cfg(data, epochs=1, out_dir=str(tmp_path / "runs"), run_name="r"), events.append)
    expected = [
        "class folder 'empty' has no images and was left out",
        "class folder 'zeros' has only empty (0-byte) files and was left out",
        f"{data / 'circle' / 'nothing.png'} is empty (0 bytes) and was skipped",
    ]
    for text in expected:
        assert text in result.problems and text in events[0].problems
    doc = json.loads((tmp_path / "runs" / "r" / RUN_FILE).read_text())
    assert all(text in doc["problems"] and text in doc["final"]["problems"] for text in expected)
    assert result.to_json()["problems"] == result.problems


def test_train_and_val_folders_without_a_common_class_fail_before_training(demo_dir, tmp_path):
    data = tmp_path / "data"
    _small(demo_dir, data / "train", classes=("circle", "square"))
    _small(demo_dir, data / "val", classes=("triangle", "star"))
    with pytest.raises(DatasetError, match="no class in common"):
        train(_cfg(data, epochs=1, out_dir=str(tmp_path / "runs")))
    assert not (tmp_path / "runs").exists()


# -- 11. a skipped file is reported once (the event), not also by the logger ---------------------------------


def test_a_skipped_file_is_not_also_logged_as_a_warning(demo_dir, tmp_path, caplog):
    data = _small(demo_dir, tmp_path / "data")
    (data / "circle" / "broken.png").write_bytes(b"not a png at all")
    caplog.set_level("WARNING")
    events: list = []
    result = train(_cfg(data, epochs=1, val_split=0.0, out_dir=str(tmp_path / "runs")), events.append)
    assert [s["path"] for s in result.skipped] == [str(data / "circle" / "broken.png")]
    assert sum(isinstance(e, ev.ImageSkipped) for e in events) == 1
    assert not [r for r in caplog.records if "broken.png" in r.getMessage()]


# -- 14. the minor ones ------------------------------------------------------------------------------------


def test_a_folder_given_as_a_checkpoint_is_called_a_folder(tmp_path):
    with pytest.raises(CheckpointError, match="is a folder"):
        ckpt.load_checkpoint(tmp_path)


def test_a_garbage_training_state_is_damaged_not_pickled_code(tmp_path):
    for name, data in [("a.state.pt", b"\x80\x02" + bytes(range(200))), ("b.state.pt", os.urandom(300))]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CheckpointError) as info:
            ckpt.load_training_state(tmp_path / name)
        assert "pickled code" not in str(info.value)


def test_a_conv1_shape_mismatch_names_the_tensor(checkpoint, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(checkpoint), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        metadata = f.metadata()
    tensors["conv1.weight"] = torch.zeros(64, 1, 7, 7)  # a grayscale stem
    save_file(tensors, str(tmp_path / "gray.safetensors"), metadata=metadata)
    with pytest.raises(CheckpointError, match=r"size mismatch for conv1\.weight.*\[64, 1, 7, 7\]"):
        ckpt.load_model(tmp_path / "gray.safetensors")


def test_a_seed_beyond_what_torch_accepts_is_a_config_problem():
    assert any("seed" in p for p in TrainConfig(data_dir="d", seed=10**23).problems())
    assert not TrainConfig(data_dir="d", seed=2**40).problems()


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_a_folder_linked_twice_is_one_class_and_reported(demo_dir, tmp_path):
    data = _small(demo_dir, tmp_path / "data")
    os.symlink(data / "circle", data / "circle_again")
    index = scan_dataset(data, val_split=0.0)
    assert index.classes == ["circle", "square"]
    assert (
        "class folder 'circle_again' is the same folder as 'circle' (a link) and was left out"
        in index.problems
    )


def test_a_legitimate_large_image_opens_without_pillows_bomb_warning(tmp_path):
    path = tmp_path / "big.png"
    Image.new("1", (10_000, 10_000)).save(path)  # 100 megapixels: above Pillow's default warning limit
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        info = images.image_info(path)
    assert info["width"] == 10_000
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


def test_a_last_batch_of_one_small_image_does_not_end_the_run(demo_dir, tmp_path):
    """A neighbour of items 4 and 8: 9 images in batches of 8 left one 32 px image in the last batch, and
    BatchNorm ("Expected more than 1 value per channel") ended the whole run."""
    data = _small(demo_dir, tmp_path / "data", n=4)
    shutil.copyfile(next((demo_dir / "star").glob("*.png")), data / "circle" / "extra.png")
    result = train(_cfg(data, epochs=1, val_split=0.0, batch_size=8, out_dir=str(tmp_path / "runs")))
    assert result.epochs == 1 and result.train_loss is not None
