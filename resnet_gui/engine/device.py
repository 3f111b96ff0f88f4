"""Pick the compute device and name it for people (status bar, `predict --json`)."""

from __future__ import annotations

import logging
import time

import torch

from resnet_gui.engine.errors import EngineError

log = logging.getLogger(__name__)

__all__ = ["device_name", "resolve_device", "synchronize"]


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """Turn "auto" | "cpu" | "cuda" | "cuda:N" | "mps" into a usable torch.device.

    "auto" prefers CUDA, then Apple MPS, then the CPU. Asking explicitly for an accelerator that is
    not there raises EngineError instead of silently running on the CPU.
    """
    if isinstance(name, torch.device):
        name = str(name)
    text = (name or "auto").strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if text == "gpu":
        text = "cuda"
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise EngineError(f"unknown device '{name}': use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            built = "with" if torch.version.cuda else "without"
            raise EngineError(
                f"CUDA was asked for but is not available here (this torch {torch.__version__} was built "
                f"{built} CUDA); use --device cpu or auto"
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise EngineError(f"{device} was asked for but only {count} CUDA device(s) are present")
        return device
    if device.type == "mps":
        if not _mps_available():
            raise EngineError(
                "Apple MPS was asked for but is not available on this machine; use --device cpu or auto"
            )
        return torch.device("mps")
    raise EngineError(f"unsupported device '{name}': use auto, cpu, cuda, cuda:N or mps")


def device_name(device: torch.device | str) -> str:
    """A short human name: "NVIDIA H100 80GB HBM3", "Apple GPU (MPS)" or "CPU, 16 threads"."""
    device = torch.device(device) if isinstance(device, str) else device
    if device.type == "cuda":
        try:
            return torch.cuda.get_device_name(device)
        except (RuntimeError, AssertionError) as exc:  # driver vanished, bad index
            log.warning("could not read the CUDA device name: %s", exc)
            return "CUDA GPU"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    threads = torch.get_num_threads()
    return f"CPU, {threads} thread{'s' if threads != 1 else ''}"


def synchronize(device: torch.device | str) -> None:
    """Wait for queued work on an accelerator to finish (for honest timings); no-op on the CPU."""
    device = torch.device(device) if isinstance(device, str) else device
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def timed_forward(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, float]:
    """`model(x)` under inference_mode, and its milliseconds: CUDA events on a GPU (timing an asynchronous
    launch with a wall clock measures nothing), a synchronised wall clock elsewhere."""
    with torch.inference_mode():
        if x.device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            out = model(x)
            end.record()
            end.synchronize()
            return out, start.elapsed_time(end)
        t0 = time.perf_counter()
        out = model(x)
        synchronize(x.device)
        return out, (time.perf_counter() - t0) * 1000.0
