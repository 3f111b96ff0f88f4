"""Inference throughput of a checkpoint at several batch sizes (forward pass only, after warm-up)."""

from __future__ import annotations

from pathlib import Path

import torch

from resnet_gui.engine.checkpoint import load_model
from resnet_gui.engine.device import device_name, resolve_device, timed_forward
from resnet_gui.engine.errors import EngineError


def time_forward(model: torch.nn.Module, x: torch.Tensor, repeats: int = 10, warmup: int = 2) -> float:
    """Median milliseconds per forward pass, after `warmup` untimed passes."""
    for _ in range(warmup):
        timed_forward(model, x)
    times = sorted(timed_forward(model, x)[1] for _ in range(repeats))
    return times[len(times) // 2]


def bench_checkpoint(
    checkpoint: str | Path, batch_sizes: list[int] = (1, 8, 32), device: str = "auto", repeats: int = 10
) -> dict:
    """{arch, img_size, device, device_name, rows: [{batch_size, ms_per_batch, ms_per_image, img_per_s}]}."""
    if not batch_sizes or any(b < 1 for b in batch_sizes):
        raise EngineError("batch sizes must be positive numbers, e.g. 1,8,32")
    dev = resolve_device(device)
    model, meta = load_model(checkpoint, device=dev)
    if dev.type == "cuda":
        model.to(memory_format=torch.channels_last)
    rows = []
    for bs in batch_sizes:
        x = torch.randn(bs, 3, meta.img_size, meta.img_size, device=dev)
        if dev.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        ms = time_forward(model, x, repeats=repeats)
        rows.append(
            {"batch_size": bs, "ms_per_batch": ms, "ms_per_image": ms / bs, "img_per_s": 1000.0 * bs / ms}
        )
    return {
        "checkpoint": str(checkpoint),
        "arch": meta.arch,
        "img_size": meta.img_size,
        "device": str(dev),
        "device_name": device_name(dev),
        "rows": rows,
    }
