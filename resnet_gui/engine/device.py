"""The device, and the one place that decides how to drive it.

`resolve_device` picks the device and `device_name` names it for people (status bar, `predict --json`).
`device_plan(device)` turns the facts about it (`describe`: type, bf16 support, CPU count) into a
`DevicePlan`: pinned memory, non-blocking copies, channels_last, AMP dtype, grad scaler, cudnn.benchmark,
the forward timer, DataLoader workers and the CPU thread cap. The decision is a pure function of a
`DeviceInfo` (`plan_for`), so every CUDA path is unit-tested on a CPU-only machine. The training loop, the
evaluation loop and the Predictor read their settings from a plan and nowhere else.

Process-wide settings (torch's intra-op thread count, cudnn.benchmark) are only ever changed inside a
context manager that restores them (`plan_settings`, `restored_threads`, `cpu_threads`): the app runs
predictions and training in one process, so a lasting change by one would silently slow the next.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import torch

from resnet_gui.engine.errors import EngineError

log = logging.getLogger(__name__)

__all__ = [
    "CpuMeter",
    "DeviceInfo",
    "DevicePlan",
    "EpochThreads",
    "cpu_threads",
    "current_load",
    "describe",
    "device_name",
    "device_plan",
    "infer_threads",
    "inference_plan",
    "plan_for",
    "plan_settings",
    "resolve_device",
    "restored_threads",
    "synchronize",
    "timed_forward",
    "train_threads",
]


# --- which device ---------------------------------------------------------------------------------------


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


# --- the plan ---------------------------------------------------------------------------------------------


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
    loader_workers: int  # training DataLoader workers when images are decoded on the fly (no RAM cache)
    eval_workers: int  # DataLoader workers for a stand-alone evaluation pass (`resnet-gui eval`)
    max_threads: int  # CPU: most intra-op threads, then only the free cores are used; 0: leave torch alone

    def to_device(self, x: torch.Tensor, device: torch.device) -> torch.Tensor:
        """A batch of images onto `device` the way this plan copies and lays them out."""
        x = x.to(device, non_blocking=self.non_blocking)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def autocast(self, device: torch.device) -> torch.autocast:
        """Autocast to this plan's AMP dtype (disabled when it has none)."""
        return torch.autocast(device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)


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


def _timer(device_type: str) -> str:
    return {"cuda": "cuda_event", "mps": "sync_wall"}.get(device_type, "wall")


def plan_for(info: DeviceInfo, amp: bool = True) -> DevicePlan:
    """The levers for a device. Reasons, measured in benchmarks/ (docs/PERFORMANCE.md):

    - CUDA: pinned host memory + non-blocking copies overlap the copy with compute; channels_last lets
      cuDNN use tensor-core kernels; bf16 autocast where the GPU has it (no loss scaling needed), else
      fp16 with a GradScaler; cudnn.benchmark picks the fastest kernels for the fixed input size; forward
      time from CUDA events (a wall clock around an asynchronous launch measures nothing). Training
      workers: enough to keep the GPU fed, one core left for the main process; evaluation: 2.
    - CPU: bf16 autocast only where the CPU does bf16 in hardware (AVX512-BF16/AMX: x1.2 measured on
      resnet18 training), never emulated; channels_last gave nothing on the CPU; no pinning. Workers: a
      quarter of the cores (at most 4), so decoding does not starve torch's own threads; none to evaluate.
      Threads: at most all cores, and only those other work leaves free (`infer_threads`, `train_threads`).
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
        timer=_timer(info.type),
        loader_workers=workers,
        eval_workers=2 if cuda else 0,
        max_threads=info.cpu_count if info.type == "cpu" else 0,
    )


def device_plan(device: torch.device | str, amp: bool = True, processes: int = 1) -> DevicePlan:
    """`plan_for(describe(device), amp)`. `processes`: training processes sharing this machine (DDP ranks
    on one node): each plans with its share of the cores (DataLoader workers, CPU threads)."""
    info = describe(device)
    if processes > 1:
        info = replace(info, cpu_count=max(1, info.cpu_count // processes))
    return plan_for(info, amp=amp)


def inference_plan(device: torch.device | str, amp: bool = False) -> DevicePlan:
    """The plan for classifying images (the Predictor): `device_plan`, with AMP only on the CPU, opt-in.

    bf16 autocast on a CPU with native bf16 made batch-1 forward x1.6-1.9 faster (measured, AVX512-BF16),
    with channels_last, which it wants too; its probabilities differ from the fp32 eval pass by up to 1e-3,
    hence off by default so `predict` and `eval` agree exactly.
    """
    device = torch.device(device)
    plan = device_plan(device, amp=amp and device.type == "cpu")
    if plan.amp_dtype is not None and not plan.channels_last:
        plan = replace(plan, channels_last=True)
    return plan


@contextlib.contextmanager
def plan_settings(plan: DevicePlan) -> Iterator[None]:
    """Run the block with the process-wide switches `plan` asks for (cudnn.benchmark); on the way out the
    switches and torch's intra-op thread count are back to what they were."""
    benchmark = torch.backends.cudnn.benchmark
    with restored_threads():
        if plan.cudnn_benchmark:
            torch.backends.cudnn.benchmark = True
        try:
            yield
        finally:
            torch.backends.cudnn.benchmark = benchmark


# --- timing -----------------------------------------------------------------------------------------------


def timed_forward(
    model: torch.nn.Module, x: torch.Tensor, timer: str | None = None
) -> tuple[torch.Tensor, float]:
    """`model(x)` under inference_mode, and its milliseconds, with the plan's timer (`DevicePlan.timer`;
    None: the rule for `x`'s device): CUDA events on a GPU (timing an asynchronous launch with a wall clock
    measures nothing), a synchronised wall clock elsewhere."""
    with torch.inference_mode():
        if (timer or _timer(x.device.type)) == "cuda_event":
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


# --- CPU threads --------------------------------------------------------------------------------------------


def infer_threads(cpu_count: int, load: float) -> int:
    """Intra-op threads for one batch-1 forward on the CPU, given how many cores other work keeps busy.

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


@contextlib.contextmanager
def restored_threads() -> Iterator[None]:
    """Whatever the block sets, torch's intra-op thread count is back to its value on entry afterwards.

    torch starts every new thread with the last count set, so a lasting change would silently halve a
    training run started later in the same process. Restoring is cheap: shrinking a team costs ~1 ms, and
    growing it back (~40 ms) is only paid if something actually runs at the larger count next."""
    before = torch.get_num_threads()
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


@contextlib.contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Run the block with `n` intra-op threads, then restore the previous count (None or 0: unchanged)."""
    with restored_threads():
        if n and n != torch.get_num_threads():
            torch.set_num_threads(n)
        yield


def current_load() -> float:
    """The 1-minute run-queue load average (0.0 where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return 0.0


class EpochThreads:
    """Wraps a DataLoader: at the start of each pass (epoch), set the intra-op threads of the calling thread
    to `train_threads(max_threads, load(), current)`. Changing the count costs ~40 ms once, so once per epoch
    is free. Run it inside `restored_threads()` (the training loop's `plan_settings`): it leaves the count
    it chose set."""

    def __init__(self, loader: Any, max_threads: int, load: Callable[[], float] | None = None):
        self.loader = loader
        self.max_threads = max_threads
        self.load = load if load is not None else current_load
        self.history: list[int] = []

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)

    def __iter__(self) -> Iterator[Any]:
        if self.max_threads > 0:
            current = torch.get_num_threads()
            want = train_threads(self.max_threads, self.load(), current)
            if want != current:
                torch.set_num_threads(want)
            self.history.append(want)
        return iter(self.loader)


CpuSample = tuple[float, float, float]  # (CPU s all processes spent busy, wall clock s, our own CPU s)


def cpu_sample() -> CpuSample | None:
    """A reading for `CpuMeter` from /proc/stat and this process's CPU time; None without /proc."""
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
    missing it falls back to the load average. `sample` and `fallback` are injectable (tests feed fakes)."""

    MIN_INTERVAL_S = 0.2  # shorter intervals are too coarse (clock ticks of 10 ms): keep the last value

    def __init__(
        self,
        sample: Callable[[], CpuSample | None] = cpu_sample,
        fallback: Callable[[], float] = current_load,
    ) -> None:
        self._sample = sample
        self._fallback = fallback
        self._last = sample()
        self._value = 0.0

    def others(self) -> float:
        now = self._sample()
        if now is None or self._last is None:
            return self._fallback()
        (busy0, t0, own0), (busy1, t1, own1) = self._last, now
        if t1 - t0 >= self.MIN_INTERVAL_S:
            self._value = max(0.0, ((busy1 - busy0) - (own1 - own0)) / (t1 - t0))
            self._last = now
        return self._value
