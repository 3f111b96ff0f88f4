"""How to drive a device fast: one small, pure decision per lever, from a description of the device.

`describe(device)` reads the facts (device type, bf16 support, CPU count) once; `plan_for(info)` turns
them into a `DevicePlan` (pinned memory, non-blocking copies, channels_last, AMP dtype, grad scaler,
cudnn.benchmark, which timer, DataLoader workers, threads for batch-1 inference). The decision is a pure
function of a `DeviceInfo`, so every CUDA path can be unit-tested on a CPU-only machine.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "DeviceInfo",
    "DevicePlan",
    "EpochThreads",
    "apply_backend_flags",
    "CpuMeter",
    "cpu_threads",
    "current_load",
    "describe",
    "device_plan",
    "infer_threads",
    "plan_for",
    "train_threads",
]


@dataclass(frozen=True)
class DeviceInfo:
    """The facts a plan depends on."""

    type: str  # "cpu" | "cuda" | "mps"
    bf16: bool = False  # native bf16 math (Ampere+ GPU; CPU with AVX512-BF16 / AMX)
    fp16: bool = False  # fast fp16 math (any CUDA GPU)
    cpu_count: int = 1


@dataclass(frozen=True)
class DevicePlan:
    """Which levers to pull on this device (see `plan_for` for the reasons)."""

    pin_memory: bool
    non_blocking: bool
    channels_last: bool
    amp_dtype: torch.dtype | None
    grad_scaler: bool  # fp16 needs loss scaling; bf16 does not
    cudnn_benchmark: bool
    timer: str  # "cuda_event" | "sync_wall" | "wall"
    loader_workers: int  # DataLoader workers when images are decoded on the fly (no RAM cache)
    infer_threads: int  # most intra-op threads for batch-1 inference on the CPU (0: leave torch's default)


def _cpu_bf16() -> bool:
    try:
        return bool(
            torch.ops.mkldnn._is_mkldnn_bf16_supported()
        ) and torch.backends.cpu.get_cpu_capability() in (
            "AVX512",
            "AVX512_BF16",
            "AMX",
        )
    except (AttributeError, RuntimeError):
        return False


def describe(device: torch.device | str) -> DeviceInfo:
    """Read the facts for `device` (no side effects)."""
    device = torch.device(device)
    cpus = os.cpu_count() or 1
    if device.type == "cuda":
        return DeviceInfo("cuda", bf16=torch.cuda.is_bf16_supported(), fp16=True, cpu_count=cpus)
    if device.type == "mps":
        return DeviceInfo("mps", cpu_count=cpus)
    return DeviceInfo("cpu", bf16=_cpu_bf16(), cpu_count=cpus)


def plan_for(info: DeviceInfo, amp: bool = True) -> DevicePlan:
    """The levers for a device. Reasons, measured in benchmarks/ (docs/PERFORMANCE.md):

    - CUDA: pinned host memory + non-blocking copies overlap the copy with compute; channels_last lets
      cuDNN use tensor-core kernels; bf16 autocast where the GPU has it (no loss scaling needed), else
      fp16 with a GradScaler; cudnn.benchmark picks the fastest kernels for the fixed input size; forward
      time from CUDA events (a wall clock around an asynchronous launch measures nothing).
    - CPU: bf16 autocast only where the CPU does bf16 in hardware (AVX512-BF16/AMX: x1.2 measured on
      resnet18 training), never emulated; channels_last gave nothing on the CPU; no pinning.
      Batch-1 inference threads: see `infer_threads` (depends on how busy the machine is).
    """
    cuda = info.type == "cuda"
    amp_dtype = None
    if amp and cuda:
        amp_dtype = torch.bfloat16 if info.bf16 else torch.float16
    elif amp and info.type == "cpu" and info.bf16:
        amp_dtype = torch.bfloat16
    workers = max(0, min(8, info.cpu_count - 1)) if cuda else max(0, min(4, info.cpu_count // 4))
    return DevicePlan(
        pin_memory=cuda,
        non_blocking=cuda,
        channels_last=cuda,
        amp_dtype=amp_dtype,
        grad_scaler=amp_dtype == torch.float16,
        cudnn_benchmark=cuda,
        timer="cuda_event" if cuda else ("sync_wall" if info.type == "mps" else "wall"),
        loader_workers=workers,
        infer_threads=info.cpu_count if info.type == "cpu" else 0,
    )


def infer_threads(cpu_count: int, load: float) -> int:
    """Intra-op threads for one batch-1 forward on the CPU, given the run-queue load (1-minute average).

    One OpenMP team waits for its slowest thread at every layer: when another process holds a core, a
    team as wide as the machine stalls (measured on 2 cores with one busy process: resnet18 at 224 px,
    2 threads median 29 ms, worst 520 ms; 1 thread median 29 ms, worst 30 ms). So use the cores that are
    free, at least one; on a quiet machine all of them (2 threads 14 ms vs 1 thread 25 ms).
    """
    free = cpu_count - max(0.0, load)
    return int(max(1, min(cpu_count, round(free))))


def train_threads(cpu_count: int, load: float, ours: int) -> int:
    """Intra-op threads for the next training epoch on the CPU: the cores other work leaves free.

    `load` (1-minute average) includes our own `ours` running threads, so the others' share is
    load - ours. Same reason as `infer_threads`, stronger: resnet18 64 px training under a load of 5-6 on
    2 cores ran 11-39 img/s with 2 threads and 82-131 img/s with 1 (same run, alternating)."""
    return infer_threads(cpu_count, load - ours)


class EpochThreads:
    """Wraps a DataLoader: at the start of each pass (epoch) on the CPU, set the intra-op threads of the
    calling thread to `train_threads(...)`. Changing the count costs ~40 ms once, so once per epoch is free."""

    def __init__(self, loader: Any, enabled: bool = True):
        self.loader = loader
        self.enabled = enabled
        self.history: list[int] = []

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)

    def __iter__(self) -> Iterator[Any]:
        if self.enabled:
            current = torch.get_num_threads()
            want = train_threads(os.cpu_count() or 1, current_load(), current)
            if want != current:
                torch.set_num_threads(want)
            self.history.append(want)
        return iter(self.loader)


def current_load() -> float:
    """The 1-minute run-queue load average (0.0 where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return 0.0


def _cpu_sample() -> tuple[float, float, float] | None:
    """(CPU seconds all processes spent busy, wall clock, this process's CPU seconds); None without /proc."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:9]]
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, AttributeError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields) - idle) / ticks, time.monotonic(), time.process_time()


class CpuMeter:
    """How many cores *other* processes kept busy since the previous reading.

    The 1-minute load average lags and counts our own work: right after a training run it still reads
    ~2 on a quiet 2-core machine, and batch-1 inference then ran on 1 thread at half speed (measured:
    25 ms vs 15 ms at 224 px). This reads /proc/stat and subtracts this process's own CPU time, over the
    interval since the last call (the first interval starts when the meter is made). Where /proc is
    missing it falls back to the load average."""

    MIN_INTERVAL_S = 0.2  # shorter intervals are too coarse (clock ticks of 10 ms): keep the last value

    def __init__(self) -> None:
        self._last = _cpu_sample()
        self._value = 0.0

    def others(self) -> float:
        now = _cpu_sample()
        if now is None or self._last is None:
            return current_load()
        (busy0, t0, own0), (busy1, t1, own1) = self._last, now
        if t1 - t0 >= self.MIN_INTERVAL_S:
            self._value = max(0.0, ((busy1 - busy0) - (own1 - own0)) / (t1 - t0))
            self._last = now
        return self._value


@contextlib.contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Run the block with `n` intra-op threads, then restore the previous count (None or 0: unchanged).

    Restoring matters: torch starts every new thread with the last count set, so a lasting change here
    would silently halve a training run started later in the same process."""
    before = torch.get_num_threads()
    if not n or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def device_plan(device: torch.device | str, amp: bool = True) -> DevicePlan:
    """`plan_for(describe(device), amp)`."""
    return plan_for(describe(device), amp=amp)


def apply_backend_flags(plan: DevicePlan) -> None:
    """Process-wide switches a plan asks for (cudnn.benchmark); harmless on a CPU-only machine."""
    if plan.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
