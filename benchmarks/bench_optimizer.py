"""AdamW's step on the CPU (or the GPU): the per-tensor loop, `foreach` and `fused`, against a training step.

`engine/train/optim.py: build_optimizer` uses `fused=True` on the CPU and CUDA (FUSED_DEVICES). This measures
why, in one run: ms per optimizer step for each implementation, and a forward+backward of one batch for scale.

    python benchmarks/bench_optimizer.py [--arch resnet18] [--img-size 32] [--batch 32] [--device auto]
"""

from __future__ import annotations

import argparse
import time

import torch
import torchvision
from common import Report, table

from resnet_gui.engine.device import resolve_device, synchronize


def step_ms(model: torch.nn.Module, device: torch.device, repeats: int, **kw) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, **kw)
    for _ in range(3):  # allocate the state, warm the kernels
        opt.step()
    synchronize(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        opt.step()
    synchronize(device)
    return (time.perf_counter() - t0) / repeats * 1e3


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--img-size", type=int, default=32)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args(argv)
    device = resolve_device(args.device)
    model = getattr(torchvision.models, args.arch)(num_classes=10).to(device)
    x = torch.randn(args.batch, 3, args.img_size, args.img_size, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)
    torch.nn.functional.cross_entropy(model(x), y).backward()  # gradients for the optimizer to read
    synchronize(device)
    t0 = time.perf_counter()
    for _ in range(3):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
    synchronize(device)
    fwd_bwd = (time.perf_counter() - t0) / 3 * 1e3
    single = step_ms(model, device, args.repeats, foreach=False)
    foreach = step_ms(model, device, args.repeats, foreach=True)
    fused = step_ms(model, device, args.repeats, fused=True)
    print(f"\n{args.arch}, {device}, batch {args.batch} at {args.img_size} px")
    table(
        [
            ("forward+backward", f"{fwd_bwd:.1f} ms", ""),
            ("AdamW per-tensor", f"{single:.1f} ms", f"{single / (fwd_bwd + single):.0%} of a step"),
            ("AdamW foreach", f"{foreach:.1f} ms", f"{foreach / (fwd_bwd + foreach):.0%} of a step"),
            ("AdamW fused (ours)", f"{fused:.1f} ms", f"{fused / (fwd_bwd + fused):.0%} of a step"),
        ],
        ("what", "ms", "share"),
    )
    report = Report("optimizer")
    report.figures = {"device": str(device), "arch": args.arch, "img_size": args.img_size, "batch": args.batch,
                      "fwd_bwd_ms": fwd_bwd, "single_ms": single, "foreach_ms": foreach, "fused_ms": fused}  # fmt: skip
    report.ratio("fused / per-tensor step", fused / single, 0.5, what="ms per AdamW step")
    report.finish()


if __name__ == "__main__":
    main()
