"""Checkpoints: safetensors round trip, atomic writes, seed-style state_dicts, refusing unsafe or broken files."""

from __future__ import annotations

import json
import os
import pickle
import warnings
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from resnet_gui.engine import fileio
from resnet_gui.engine.errors import CheckpointError
from resnet_gui.engine.fileio import atomic_write_bytes
from resnet_gui.engine.model.checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    CheckpointMeta,
    load_checkpoint,
    load_model,
    load_training_state,
    save_checkpoint,
    save_training_state,
    training_state_path,
)
from tests._fixtures import CLASSES


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))


@pytest.fixture
def saved(tmp_path: Path, model: torch.nn.Module) -> Path:
    meta = CheckpointMeta(
        arch="resnet18",
        classes=list(CLASSES),
        img_size=32,
        metrics={"val_acc": 0.75},
        config={"epochs": 2, "out_dir": tmp_path},
        history=[{"epoch": 1, "val_acc": 0.5}, {"epoch": 2, "val_acc": 0.75}],
    )
    return save_checkpoint(tmp_path / "best.safetensors", model, meta)


class Boom:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


def test_round_trip_keeps_weights_and_metadata(
    saved: Path, model: torch.nn.Module, batch: torch.Tensor
) -> None:
    loaded, meta = load_model(saved)
    assert not loaded.training
    assert torch.equal(logits(loaded, batch), logits(model, batch))
    assert meta.arch == "resnet18"
    assert meta.classes == CLASSES
    assert meta.img_size == 32
    assert meta.metrics == {"val_acc": 0.75}
    assert meta.history[-1] == {"epoch": 2, "val_acc": 0.75}
    assert meta.config["out_dir"] == str(saved.parent)  # Paths stored as text
    assert set(meta.versions) == {"torch", "torchvision", "resnet_gui"}
    assert meta.source == "resnet-gui"
    assert meta.mean == [0.485, 0.456, 0.406]


def test_header_holds_one_json_key_with_format_and_version(saved: Path) -> None:
    with safe_open(str(saved), framework="pt") as f:
        metadata = f.metadata()
    assert set(metadata) == {"resnet_gui"}
    header = json.loads(metadata["resnet_gui"])
    assert header["format"] == FORMAT == "resnet-gui"
    assert header["version"] == FORMAT_VERSION == 1
    assert header["arch"] == "resnet18"
    assert header["classes"] == CLASSES


def test_meta_dict_round_trip_ignores_unknown_keys() -> None:
    meta = CheckpointMeta("resnet50", ["a", "b"], 224)
    data = {**meta.to_dict(), "from_the_future": 1}
    assert CheckpointMeta.from_dict(data) == meta
    with pytest.raises(CheckpointError, match="lacks classes"):
        CheckpointMeta.from_dict({"arch": "resnet18", "img_size": 3})


def test_strided_and_shared_tensors_are_saved(tmp_path: Path, model: torch.nn.Module) -> None:
    sd = dict(model.state_dict())
    sd["fc.weight"] = sd["fc.weight"].t().contiguous().t()  # non-contiguous view
    sd["module.fc.bias"] = sd.pop("fc.bias")  # DataParallel prefix is stripped
    path = save_checkpoint(tmp_path / "m.safetensors", sd, CheckpointMeta("resnet18", CLASSES, 32))
    loaded, _ = load_checkpoint(path)
    assert torch.equal(loaded["fc.weight"], model.fc.weight)
    assert torch.equal(loaded["fc.bias"], model.fc.bias)


def test_save_refuses_meta_that_does_not_fit(tmp_path: Path, model: torch.nn.Module) -> None:
    with pytest.raises(CheckpointError, match="resnet18 weights labelled as resnet34"):
        save_checkpoint(tmp_path / "x.safetensors", model, CheckpointMeta("resnet34", CLASSES, 32))
    with pytest.raises(CheckpointError, match="3-class model with 2 class names"):
        save_checkpoint(tmp_path / "x.safetensors", model, CheckpointMeta("resnet18", ["a", "b"], 32))
    assert not (tmp_path / "x.safetensors").exists()


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_failed_write_leaves_previous_checkpoint_intact(
    saved: Path, model: torch.nn.Module, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    before = saved.read_bytes()

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, failing, boom)
    meta = CheckpointMeta("resnet18", ["x", "y", "z"], 64)
    with pytest.raises(CheckpointError, match="No space left"):
        save_checkpoint(saved, model, meta)
    monkeypatch.undo()
    assert saved.read_bytes() == before
    assert load_checkpoint(saved)[1].classes == CLASSES
    assert sorted(p.name for p in saved.parent.iterdir()) == ["best.safetensors"]  # no temp file left


def test_atomic_write_bytes_replaces_and_keeps_mode(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "f.bin"
    atomic_write_bytes(target, b"one")
    assert target.read_bytes() == b"one"
    os.chmod(target, 0o640)
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in target.parent.iterdir()] == ["f.bin"]


def test_mismatches_are_refused_with_specific_messages(saved: Path) -> None:
    with pytest.raises(CheckpointError, match="is resnet18 but resnet50 was asked for"):
        load_checkpoint(saved, expected_arch="resnet50")
    with pytest.raises(CheckpointError, match="has 3 classes, not 5"):
        load_checkpoint(saved, expected_num_classes=5)
    sd, meta = load_checkpoint(saved, expected_arch="resnet18", expected_num_classes=3)
    assert meta.classes == CLASSES and "fc.weight" in sd


@pytest.mark.parametrize("wrapper", ["raw", "model_state_dict", "state_dict"])
def test_seed_style_state_dict_with_class_indices_beside(
    tmp_path: Path, model: torch.nn.Module, batch: torch.Tensor, wrapper: str
) -> None:
    sd = model.state_dict()
    if wrapper == "raw":
        obj: dict = sd
    else:
        obj = {wrapper: {f"module.{k}": v for k, v in sd.items()}, "epoch": 7, "best_acc": 0.9}
    path = tmp_path / "model.pth"
    torch.save(obj, path)
    (tmp_path / "class_indices.json").write_text(json.dumps({str(i): c for i, c in enumerate(CLASSES)}))

    loaded, meta = load_model(path)
    assert torch.equal(logits(loaded, batch), logits(model, batch))
    assert meta.arch == "resnet18"
    assert meta.classes == CLASSES
    assert meta.source == "state_dict"
    assert meta.img_size == 224
    assert meta.std == [0.229, 0.224, 0.225]
    assert meta.warnings == []


def test_seed_style_classes_file_forms(tmp_path: Path, model: torch.nn.Module) -> None:
    path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), path)
    as_list = tmp_path / "names.json"
    as_list.write_text(json.dumps(CLASSES))
    as_text = tmp_path / "names.txt"
    as_text.write_text("ants\nbees\n\nwasps\n")
    class_to_idx = tmp_path / "class_to_idx.json"
    class_to_idx.write_text(json.dumps({"bees": 1, "ants": 0, "wasps": 2}))
    for classes_file in (as_list, as_text, class_to_idx):
        assert load_checkpoint(path, classes_file=classes_file)[1].classes == CLASSES


def test_seed_style_without_class_names_gets_placeholders(tmp_path: Path, model: torch.nn.Module) -> None:
    path = tmp_path / "weights.pth"
    torch.save({"model_state_dict": model.state_dict()}, path)
    _, meta = load_checkpoint(path)
    assert meta.classes == ["class_0", "class_1", "class_2"]
    assert meta.warnings and "class_indices.json" in meta.warnings[0]


def test_class_count_must_match_outputs(tmp_path: Path, model: torch.nn.Module, saved: Path) -> None:
    path = tmp_path / "weights.pth"
    torch.save(model.state_dict(), path)
    (tmp_path / "class_indices.json").write_text(json.dumps({"0": "a", "1": "b"}))
    with pytest.raises(CheckpointError, match="lists 2 classes but the checkpoint weights.pth has 3 outputs"):
        load_checkpoint(path)
    gaps = tmp_path / "gaps.json"
    gaps.write_text(json.dumps({"0": "a", "2": "b", "3": "c"}))
    with pytest.raises(CheckpointError, match="does not number its classes"):
        load_checkpoint(saved, classes_file=gaps)


def test_pickled_code_is_refused_and_never_runs(tmp_path: Path, model: torch.nn.Module) -> None:
    marker = tmp_path / "code-ran"
    with_object = tmp_path / "with_object.pth"
    torch.save({"model_state_dict": model.state_dict(), "args": Boom(marker)}, with_object)
    plain_pickle = tmp_path / "plain.pkl"
    plain_pickle.write_bytes(pickle.dumps({"fc.weight": Boom(marker)}))
    for path in (with_object, plain_pickle):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch notes the unusual pickle protocol
            with pytest.raises(CheckpointError, match="pickled code .* refused"):
                load_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "damage",
    ["truncated", "garbage", "empty", "bad_json"],
)
def test_damaged_safetensors_is_refused(tmp_path: Path, saved: Path, damage: str) -> None:
    data = saved.read_bytes()
    bad = tmp_path / "bad.safetensors"
    if damage == "truncated":
        bad.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        bad.write_bytes(os.urandom(4096))
    elif damage == "empty":
        bad.write_bytes(b"")
    else:
        save_file({"fc.weight": torch.zeros(2, 2)}, str(bad), metadata={"resnet_gui": "{not json"})
    with pytest.raises(
        CheckpointError, match="bad.safetensors (is not a valid checkpoint|is truncated|is empty)"
    ):
        load_checkpoint(bad)


def test_garbage_pth_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(CheckpointError, match="bad.pth (is not a valid checkpoint|is truncated)"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nothing.safetensors")
    torch.save({"epoch": 3}, bad)
    with pytest.raises(CheckpointError, match="holds no model weights"):
        load_checkpoint(bad)


def test_newer_format_and_foreign_header_refused(tmp_path: Path, saved: Path) -> None:
    with safe_open(str(saved), framework="pt") as f:
        header = json.loads(f.metadata()["resnet_gui"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    newer = tmp_path / "newer.safetensors"
    save_file(tensors, str(newer), metadata={"resnet_gui": json.dumps({**header, "version": 99})})
    with pytest.raises(CheckpointError, match="newer resnet-gui"):
        load_checkpoint(newer)
    # A safetensors file without our header (e.g. from another tool) loads like a state_dict.
    plain = tmp_path / "plain.safetensors"
    save_file(tensors, str(plain))
    _, meta = load_checkpoint(plain)
    assert meta.source == "state_dict" and meta.arch == "resnet18" and len(meta.classes) == 3


def test_training_state_round_trip(tmp_path: Path) -> None:
    assert training_state_path(tmp_path / "best.safetensors") == tmp_path / "best.state.pt"
    layer = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(layer.parameters(), lr=0.1)
    layer(torch.ones(1, 3)).sum().backward()
    opt.step()
    state = {"epoch": 4, "optimizer": opt.state_dict(), "rng": torch.get_rng_state(), "best": 0.5}
    path = training_state_path(tmp_path / "best.safetensors")
    save_training_state(path, state)
    back = load_training_state(path)
    assert back["epoch"] == 4 and back["best"] == 0.5
    assert torch.equal(back["rng"], state["rng"])
    opt.load_state_dict(back["optimizer"])


def test_training_state_with_objects_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    path = tmp_path / "x.state.pt"
    torch.save({"epoch": 1, "evil": Boom(marker)}, path)
    with pytest.raises(CheckpointError, match="pickled code.*refused"):
        load_training_state(path)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="does not exist"):
        load_training_state(tmp_path / "none.state.pt")
