"""Issue 6, checkpoints: code-carrying pickles are refused without running; every kind of broken file gets a
specific error; a GPU-saved file loads on a CPU-only machine. All files are generated here."""

from __future__ import annotations

import io
import json
import os
import pickle
import random
import warnings
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from resnet_gui.engine.errors import CheckpointError
from resnet_gui.engine.infer.predict import Predictor
from resnet_gui.engine.model.checkpoint import (
    CheckpointMeta,
    load_checkpoint,
    load_model,
    load_training_state,
    save_checkpoint,
)
from tests._fixtures import CLASSES


@pytest.fixture
def good(tmp_path: Path, model: torch.nn.Module) -> Path:
    return save_checkpoint(
        tmp_path / "good.safetensors", model, CheckpointMeta(arch="resnet18", classes=CLASSES, img_size=32)
    )


class Marker:
    """Unpickling this creates a file: the proof that code from the checkpoint ran."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


class OsSystem:
    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


@pytest.mark.parametrize("suffix", [".pt", ".pth"])
@pytest.mark.parametrize("how", ["torch-zip", "legacy-pickle", "bare-pickle", "os-system"])
def test_pickle_that_would_run_code_is_refused_and_nothing_runs(
    tmp_path: Path, model: torch.nn.Module, suffix: str, how: str
):
    marker = tmp_path / "code-ran"
    path = tmp_path / f"evil{suffix}"
    payload = {"model_state_dict": model.state_dict(), "hook": Marker(marker)}
    if how == "torch-zip":
        torch.save(payload, path)
    elif how == "legacy-pickle":
        torch.save(payload, path, _use_new_zipfile_serialization=False)
    elif how == "bare-pickle":
        path.write_bytes(pickle.dumps({"fc.weight": Marker(marker)}, protocol=2))
    else:
        torch.save({"state_dict": model.state_dict(), "x": OsSystem(marker)}, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(CheckpointError, match="pickled code .* refused"):
            load_checkpoint(path)
        with pytest.raises(CheckpointError, match="pickled code"):
            Predictor(path, device="cpu", warmup=False)
    assert not marker.exists()


@pytest.mark.parametrize(
    "name, make, message",
    [
        ("zero.safetensors", lambda good, pt: b"", "is empty \\(0 bytes\\)"),
        ("zero.pth", lambda good, pt: b"", "is empty \\(0 bytes\\)"),
        (
            "cut.safetensors",
            lambda good, pt: good[: len(good) // 2],
            "is truncated \\([\\d,]+ of [\\d,]+ bytes\\)",
        ),
        ("cut-header.safetensors", lambda good, pt: good[:100], "is truncated"),
        ("cut.pth", lambda good, pt: pt[: len(pt) // 2], "is truncated .*its end is missing"),
        (
            "random.safetensors",
            lambda good, pt: random.Random(4096).randbytes(4096),
            "is not a valid checkpoint: the safetensors header is damaged",
        ),
        ("random.pth", lambda good, pt: random.Random(4096).randbytes(4096), "is not a model checkpoint"),
        ("text.pt", lambda good, pt: b"hello, I am a README\n" * 20, "is not a model checkpoint"),
        (
            "bad-json.safetensors",
            lambda good, pt: good[:8] + b"{" + b"x" * 9 + good[18:],
            "is not a valid checkpoint: .*header",
        ),
    ],
)
def test_broken_files_each_get_a_specific_error(
    tmp_path: Path, good: Path, model: torch.nn.Module, name: str, make, message: str
):
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    bad = tmp_path / name
    bad.write_bytes(make(good.read_bytes(), buf.getvalue()))
    with pytest.raises(CheckpointError, match=f"^{name} {message}"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match=message):
        Predictor(bad, device="cpu", warmup=False)


def test_malformed_safetensors_metadata(tmp_path: Path, good: Path):
    with safe_open(str(good), framework="pt") as f:
        header = json.loads(f.metadata()["resnet_gui"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    cases = {
        "not-json": ({"resnet_gui": "{nope"}, "metadata is not JSON"),
        "no-arch": (
            {"resnet_gui": json.dumps({k: v for k, v in header.items() if k != "arch"})},
            "lacks arch",
        ),
        "foreign": ({"resnet_gui": json.dumps({**header, "format": "other"})}, "not a resnet-gui checkpoint"),
        "newer": ({"resnet_gui": json.dumps({**header, "version": 2})}, "newer resnet-gui \\(format 2\\)"),
        "lying-arch": (
            {"resnet_gui": json.dumps({**header, "arch": "resnet34"})},
            "damaged: its metadata says",
        ),
        "few-names": (
            {"resnet_gui": json.dumps({**header, "classes": ["a"]})},
            "1 class names for 3 outputs",
        ),
    }
    for name, (metadata, message) in cases.items():
        path = tmp_path / f"{name}.safetensors"
        save_file(tensors, str(path), metadata=metadata)
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(path)


def test_missing_and_wrong_shaped_tensors(tmp_path: Path, model: torch.nn.Module):
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    meta = CheckpointMeta(arch="resnet18", classes=CLASSES, img_size=32)
    del sd["layer4.1.bn2.running_var"]
    path = tmp_path / "missing.safetensors"
    save_checkpoint(path, sd, meta)
    with pytest.raises(CheckpointError, match="missing.safetensors (does not fit|lacks weights)"):
        load_model(path)


def test_wrong_architecture_or_class_count(good: Path):
    with pytest.raises(CheckpointError, match="is resnet18 but resnet50 was asked for"):
        load_checkpoint(good, expected_arch="resnet50")
    with pytest.raises(CheckpointError, match="has 3 classes, not 5"):
        load_checkpoint(good, expected_num_classes=5)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_infinite_weights_are_refused(tmp_path: Path, model: torch.nn.Module, bad: float):
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    sd["layer2.0.conv1.weight"][0, 0, 0, 0] = bad
    path = save_checkpoint(
        tmp_path / "diverged.safetensors", sd, CheckpointMeta(arch="resnet18", classes=CLASSES, img_size=32)
    )
    with pytest.raises(CheckpointError, match="NaN or infinite weights \\(in layer2.0.conv1.weight\\)"):
        load_model(path)
    torch.save(sd, tmp_path / "diverged.pth")
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load_checkpoint(tmp_path / "diverged.pth")


def test_gpu_saved_checkpoint_loads_on_cpu(tmp_path: Path, model: torch.nn.Module, monkeypatch):
    """torch.save records each tensor's device; a file written on cuda:0 must still load without CUDA."""
    import torch.serialization as ser

    monkeypatch.setattr(ser, "location_tag", lambda storage: "cuda:0")
    path = tmp_path / "from-gpu.pth"
    torch.save({"model_state_dict": model.state_dict(), "epoch": 3}, path)
    state = tmp_path / "from-gpu.state.pt"
    torch.save({"epoch": 3, "rng": torch.get_rng_state()}, state)
    monkeypatch.undo()
    if not torch.cuda.is_available():  # the file really names CUDA: a plain torch.load fails here
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)
    loaded, meta = load_model(path, device="cpu")
    assert meta.arch == "resnet18" and next(loaded.parameters()).device.type == "cpu"
    assert torch.equal(loaded.state_dict()["fc.weight"], model.state_dict()["fc.weight"])
    assert load_training_state(state)["rng"].device.type == "cpu"
