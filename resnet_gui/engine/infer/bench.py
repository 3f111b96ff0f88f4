"""Inference speed of a checkpoint (`resnet-gui bench`, the app's "Benchmark this model").

Forward pass only, on random input at the checkpoint's image size, after untimed warm-up passes: latency
p50/p95 per batch, throughput, and on CUDA FP32 against AMP (float16 autocast) and the peak memory
allocated by the forward pass. Each configuration runs `repeats` times or until its time budget is spent
(at least `min_repeats`), and `stop` is honoured between passes.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from resnet_gui.engine.device import device_name, device_plan, resolve_device, timed_forward
from resnet_gui.engine.errors import EngineError
from resnet_gui.engine.model.checkpoint import load_model

__all__ = ["BenchProgress", "bench_checkpoint", "bench_model", "percentile", "time_forward"]


@dataclass(frozen=True)
class BenchProgress:
    """One configuration measured: `done` of `total`, with its row (as in the result's `rows`)."""

    done: int
    total: int
    row: dict


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list: always one of the measured values."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def time_forward(model: torch.nn.Module, x: torch.Tensor, repeats: int = 10, warmup: int = 2) -> float:
    """Median milliseconds per forward pass, after `warmup` untimed passes."""
    for _ in range(warmup):
        timed_forward(model, x)
    return percentile([timed_forward(model, x)[1] for _ in range(repeats)], 50)


def _autocast(device: torch.device, amp: bool):
    if amp:
        return torch.autocast(device_type=device.type, dtype=torch.float16)
    return contextlib.nullcontext()


def bench_model(
    model: torch.nn.Module,
    img_size: int,
    batch_sizes: Sequence[int] = (1, 8, 32),
    device: torch.device | str = "cpu",
    precisions: Sequence[str] = ("fp32",),
    repeats: int = 20,
    min_repeats: int = 3,
    warmup: int = 3,
    budget_s: float = 5.0,
    on_event: Callable[[object], None] = lambda e: None,
    stop: threading.Event | None = None,
) -> list[dict]:
    """One row per (precision, batch size), in that order; fewer rows if `stop` was set."""
    dev = torch.device(device)
    plan = device_plan(dev)
    total = len(precisions) * len(batch_sizes)
    rows: list[dict] = []
    for precision in precisions:
        for bs in batch_sizes:
            if stop is not None and stop.is_set():
                return rows
            x = plan.to_device(torch.randn(bs, 3, img_size, img_size), dev)
            if dev.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(dev)
                base = torch.cuda.memory_allocated(dev)
            times: list[float] = []
            with _autocast(dev, precision == "amp"):
                for _ in range(warmup):
                    timed_forward(model, x, plan.timer)
                t0 = time.perf_counter()
                while len(times) < repeats:
                    if stop is not None and stop.is_set():
                        return rows
                    times.append(timed_forward(model, x, plan.timer)[1])
                    if len(times) >= min_repeats and time.perf_counter() - t0 > budget_s:
                        break
            p50 = percentile(times, 50)
            row = {
                "precision": precision,
                "batch_size": bs,
                "runs": len(times),
                "p50_ms": p50,
                "p95_ms": percentile(times, 95),
                "ms_per_batch": p50,
                "ms_per_image": p50 / bs,
                "img_per_s": 1000.0 * bs / p50,
                # what the forward pass allocated on top of the weights and input (CUDA only)
                "peak_mem_mb": (
                    (torch.cuda.max_memory_allocated(dev) - base) / 2**20 if dev.type == "cuda" else None
                ),
            }
            rows.append(row)
            on_event(BenchProgress(len(rows), total, row))
    return rows


def bench_checkpoint(
    checkpoint: str | Path,
    batch_sizes: Sequence[int] = (1, 8, 32),
    device: str = "auto",
    repeats: int = 20,
    amp: bool | None = None,
    budget_s: float = 5.0,
    on_event: Callable[[object], None] = lambda e: None,
    stop: threading.Event | None = None,
) -> dict:
    """{checkpoint, arch, img_size, device, device_name, stopped, rows: [{precision, batch_size, runs,
    p50_ms, p95_ms, ms_per_batch, ms_per_image, img_per_s, peak_mem_mb}]}.

    `amp=None` measures FP32 and AMP on CUDA, FP32 elsewhere (CPU autocast rarely helps inference).
    """
    if not batch_sizes or any(int(b) < 1 for b in batch_sizes):
        raise EngineError("batch sizes must be positive numbers, e.g. 1,8,32")
    if repeats < 1:
        raise EngineError("repeats must be at least 1")
    dev = resolve_device(device)
    use_amp = dev.type == "cuda" if amp is None else amp
    if use_amp and dev.type != "cuda":
        raise EngineError("AMP benchmarks need a CUDA device")
    model, meta = load_model(checkpoint, device=dev)
    if device_plan(dev).channels_last:
        model.to(memory_format=torch.channels_last)
    rows = bench_model(
        model,
        meta.img_size,
        [int(b) for b in batch_sizes],
        dev,
        precisions=("fp32", "amp") if use_amp else ("fp32",),
        repeats=repeats,
        min_repeats=min(3, repeats),
        budget_s=budget_s,
        on_event=on_event,
        stop=stop,
    )
    return {
        "checkpoint": str(checkpoint),
        "arch": meta.arch,
        "img_size": meta.img_size,
        "device": str(dev),
        "device_name": device_name(dev),
        "stopped": bool(stop is not None and stop.is_set()),
        "rows": rows,
    }
