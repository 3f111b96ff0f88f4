"""Shared engine fixtures: tiny demo datasets and a trained checkpoint (built once per session)."""

from __future__ import annotations

import contextlib
import json
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from resnet_gui.engine import device
from resnet_gui.engine.config import TrainConfig
from resnet_gui.engine.data.demo import make_demo_dataset
from resnet_gui.engine.infer.export import METADATA_FILE
from resnet_gui.engine.train.loop import train

# amp off: on CPUs with native bf16 the engine trains under bf16 autocast (engine/device.py); the shared run
# stays in float32 so tests that compare it with a later float32 evaluation hold on every CPU.
#: `inspect --json` (DESIGN.md section 2): the object's keys and each layer's
INSPECT_KEYS = {"arch", "num_classes", "img_size", "params_total", "params_trainable", "macs_total", "layers"}
INSPECT_LAYER_KEYS = {"name", "type", "output_shape", "params", "macs"}

CLASSES = ["ants", "bees", "wasps"]  # the class names of the untrained `model` fixture


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    """An untrained, seeded ResNet-18 with len(CLASSES) outputs, in eval mode."""
    from resnet_gui.engine.model.build import build_model

    torch.manual_seed(0)
    return build_model("resnet18", len(CLASSES)).eval()


TINY = {"img_size": 32, "batch_size": 16, "workers": 0, "seed": 0, "amp": False}


def stop_on(event_type: type) -> tuple[threading.Event, list, Callable[[object], None]]:
    """(stop flag, events seen, on_event) where on_event records every event and sets the flag at the first
    `event_type`: the way a test presses Stop at a known point of a run."""
    stop, events = threading.Event(), []

    def on_event(e: object) -> None:
        events.append(e)
        if isinstance(e, event_type):
            stop.set()

    return stop, events, on_event


def keep_thread_count() -> None:
    """Make every training epoch keep the thread count it starts with, in this process (a child process
    calls it too). The per-epoch rule (device.EpochThreads) follows the machine's load; runs that a test
    compares must not depend on what else the machine runs, so they sum floats in the same order."""
    device.train_threads = lambda cpu_count, load, ours: ours


@contextlib.contextmanager
def steady_threads() -> Iterator[None]:
    """`keep_thread_count()` for the duration of the block."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(device, "train_threads", lambda cpu_count, load, ours: ours)
        yield


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """4 shape classes x 12 images at 32 px."""
    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "shapes", per_class=12, size=32, seed=0)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, demo_dir):
    """A 1-epoch resnet18 run on the tiny demo data: (TrainResult, events)."""
    events: list = []
    out = tmp_path_factory.mktemp("runs")
    with steady_threads():  # tests evaluate this checkpoint again and compare with its stored evaluation
        result = train(
            TrainConfig(data_dir=str(demo_dir), epochs=1, out_dir=str(out), **TINY), on_event=events.append
        )
    return result, events


@pytest.fixture(scope="session")
def checkpoint(trained) -> Path:
    return Path(trained[0].checkpoint)


def read_export_metadata(path: str | Path) -> dict[str, str]:
    """The export_metadata() in an exported .onnx or TorchScript file, read as a user of the file would."""
    path = Path(path)
    if path.suffix == ".onnx":
        import onnx

        return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    extra = {METADATA_FILE: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated upstream
        torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return json.loads(extra[METADATA_FILE])
