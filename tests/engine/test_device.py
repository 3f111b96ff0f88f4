"""resolve_device / device_name / synchronize."""

from __future__ import annotations

import pytest
import torch

from resnet_gui.engine import device as dev
from resnet_gui.engine.device import device_name, resolve_device, synchronize
from resnet_gui.engine.errors import EngineError

HAS_CUDA = torch.cuda.is_available()


def test_cpu_is_always_available() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(dev, "_mps_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device() == torch.device("cuda")


@pytest.mark.skipif(HAS_CUDA, reason="CUDA is present here")
def test_cuda_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(EngineError, match="CUDA was asked for but is not available"):
        resolve_device("cuda")
    with pytest.raises(EngineError, match="CUDA"):
        resolve_device("cuda:1")


def test_cuda_refused_when_unavailable_even_on_gpu_machines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(EngineError, match="--device cpu"):
        resolve_device("cuda")


def test_cuda_index_out_of_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(EngineError, match="only 1 CUDA device"):
        resolve_device("cuda:1")


def test_mps_without_mps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    with pytest.raises(EngineError, match="MPS"):
        resolve_device("mps")


@pytest.mark.parametrize("name", ["banana", "tpu9", "cuda:x"])
def test_unknown_device_names(name: str) -> None:
    with pytest.raises(EngineError, match="auto, cpu, cuda"):
        resolve_device(name)


def test_cpu_name_has_thread_count() -> None:
    name = device_name(torch.device("cpu"))
    assert "CPU" in name
    assert str(torch.get_num_threads()) in name
    assert device_name("cpu") == name
    assert device_name(torch.device("mps")) == "Apple GPU (MPS)"


def test_synchronize_cpu_is_a_noop() -> None:
    synchronize(torch.device("cpu"))
    synchronize("cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs CUDA")
def test_cuda_name_and_sync() -> None:
    device = resolve_device("auto")
    assert device.type == "cuda"
    assert device_name(device) == torch.cuda.get_device_name(0)
    synchronize(device)
