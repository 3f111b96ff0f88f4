"""Item 3: inference latency, a dropped JPEG to a top-k answer, against the forward pass alone and against
the tutorial's per-image loop; plus batch-1 forward under load with all cores vs the free cores.

In this one run, on 500x375 photo-like JPEGs (benchmarks/photos.py), a ResNet checkpoint at 224 px:
- ours: `Predictor.predict_one(path)` end to end (load, preprocess, forward, top-k), median;
- forward alone: the same model on a tensor already in memory, median, interleaved with the above;
- tutorial: `Image.open().convert("RGB")`, Resize(256), CenterCrop(224), ToTensor, Normalize, `model(x)`
  under `no_grad`, softmax, topk, per image.
Goals on the CPU: end-to-end / forward <= 1.3; tutorial / ours >= 1 (faster than the tutorial loop).

    python benchmarks/bench_infer.py [--quick] [--arch resnet18] [--img-size 224] [--device auto]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import Report, median, pct, scratch_dir, table
from photos import make_photo_folder
from PIL import Image
from torchvision import transforms as T

from resnet_gui.engine.config import IMAGENET_MEAN, IMAGENET_STD
from resnet_gui.engine.device import cpu_threads, resolve_device, synchronize, timed_forward
from resnet_gui.engine.infer.predict import Predictor
from resnet_gui.engine.model import checkpoint as ckpt
from resnet_gui.engine.model.build import build_model


def make_checkpoint(path: Path, arch: str, img_size: int, classes: int = 4) -> Path:
    """Untrained weights are as fast as trained ones: no training needed to time inference."""
    torch.manual_seed(0)
    model = build_model(arch, classes)
    meta = ckpt.CheckpointMeta(
        arch=arch,
        classes=[f"class_{i}" for i in range(classes)],
        img_size=img_size,
        mean=list(IMAGENET_MEAN),
        std=list(IMAGENET_STD),
        metrics={},
        config={},
        history=[],
        versions=ckpt.current_versions(),
        created="",
    )
    ckpt.save_checkpoint(path, model, meta)
    return path


def tutorial_predict(
    model: torch.nn.Module, path: Path, tf, device: torch.device, classes: list[str]
) -> list:
    img = Image.open(path).convert("RGB")
    x = tf(img).unsqueeze(0).to(device)
    with torch.no_grad():
        probs = torch.softmax(model(x), dim=1)[0]
    values, indices = probs.topk(min(5, len(classes)))
    out = [(classes[i], float(v)) for v, i in zip(values.tolist(), indices.tolist(), strict=True)]
    synchronize(device)
    return out


def busy_forward(model: torch.nn.Module, x: torch.Tensor, threads: int, n: int) -> list[float]:
    """Batch-1 forward ms with `threads` intra-op threads while another process keeps one core busy."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        with cpu_threads(threads):
            timed_forward(model, x)
            return [timed_forward(model, x)[1] for _ in range(n)]
    finally:
        hog.kill()
        hog.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--img-size", type=int, default=224)
    args = ap.parse_args()
    device = resolve_device(args.device)
    n = 12 if args.quick else 30
    report = Report("infer")
    with tempfile.TemporaryDirectory(prefix="bench-infer-", dir=scratch_dir()) as tmp:
        tmp = Path(tmp)
        photos = sorted(make_photo_folder(tmp / "photos", 1, n, seed=3).rglob("*.jpg"))
        path = make_checkpoint(tmp / "model.safetensors", args.arch, args.img_size)
        p = Predictor(path, device=str(device))
        model = p.model
        x = torch.randn(1, 3, args.img_size, args.img_size, device=device)
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        tf = T.Compose(
            [
                T.Resize(round(args.img_size * 256 / 224)),
                T.CenterCrop(args.img_size),
                T.ToTensor(),
                T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
            ]
        )
        ours, fwd, tut, parts = [], [], [], {"load": [], "preprocess": [], "forward": []}
        for photo in photos:  # interleaved, so load drifts hit both alike
            pr = p.predict_one(photo)
            ours.append(pr.timing_ms["total"])
            for k in parts:
                parts[k].append(pr.timing_ms[k])
            with cpu_threads(p.free_cores()):  # what predict_one runs with
                fwd.append(timed_forward(model, x)[1])
        # The tutorial runs with torch's default thread count (all cores), as a script of its own would.
        with cpu_threads(os.cpu_count() if device.type == "cpu" else None):
            tutorial_predict(model, photos[0], tf, device, p.classes)  # warm-up, as for ours
            for photo in photos:
                t0 = time.perf_counter()
                tutorial_predict(model, photo, tf, device, p.classes)
                tut.append((time.perf_counter() - t0) * 1000)
        rows = [
            (
                "ours, end to end",
                f"{median(ours):.2f}",
                f"{pct(ours, 0.95):.2f}",
                f"{sum(ours) / len(ours):.2f}",
            ),
            ("  load (read + decode)", f"{median(parts['load']):.2f}", f"{pct(parts['load'], 0.95):.2f}"),
            ("  preprocess", f"{median(parts['preprocess']):.2f}", f"{pct(parts['preprocess'], 0.95):.2f}"),
            (
                "  forward (inside predict)",
                f"{median(parts['forward']):.2f}",
                f"{pct(parts['forward'], 0.95):.2f}",
            ),
            ("forward alone", f"{median(fwd):.2f}", f"{pct(fwd, 0.95):.2f}"),
            (
                "tutorial loop (all cores)",
                f"{median(tut):.2f}",
                f"{pct(tut, 0.95):.2f}",
                f"{sum(tut) / len(tut):.2f}",
            ),
        ]
        # Opt-in bf16 (Predictor(amp=True)): speed, and how far its answers move from the fp32 ones.
        fast = Predictor(path, device=str(device), amp=True)
        amp = {"dtype": str(fast.plan.amp_dtype), "ms": [], "max_prob_diff": 0.0, "top1_same": 0}
        if fast.plan.amp_dtype is not None:
            for photo in photos:
                a = p.predict_one(photo)
                b = fast.predict_one(photo)
                amp["ms"].append(b.timing_ms["total"])
                da, db = dict(a.topk), dict(b.topk)
                amp["max_prob_diff"] = max(amp["max_prob_diff"], max(abs(da[k] - db[k]) for k in da))
                amp["top1_same"] += a.label == b.label
            rows.append(
                (
                    f"ours with amp=True ({amp['dtype']}), end to end",
                    f"{median(amp['ms']):.2f}",
                    f"{pct(amp['ms'], 0.95):.2f}",
                    f"{sum(amp['ms']) / len(amp['ms']):.2f}",
                )
            )
        busy = {}
        if device.type == "cpu" and (os.cpu_count() or 1) > 1:
            cores = os.cpu_count() or 1
            for threads in (cores, max(1, cores - 1)):
                ms = busy_forward(model, x, threads, n)
                busy[threads] = ms
                rows.append(
                    (
                        f"forward, one busy process, {threads} threads",
                        f"{median(ms):.2f}",
                        f"{pct(ms, 0.95):.2f}",
                    )
                )
        print(f"\n{args.arch} at {args.img_size} px, batch 1, {len(photos)} 500x375 JPEGs, {p.device_name}")
        table([r if len(r) == 4 else (*r, "") for r in rows], ("ms per image", "p50", "p95", "mean"))
        if amp["ms"]:
            print(
                f"amp=True vs fp32: top-1 the same for {amp['top1_same']}/{len(photos)} images, "
                f"largest probability difference {amp['max_prob_diff']:.4f}"
            )
    report.figures = {
        "device": p.device_name,
        "arch": args.arch,
        "img_size": args.img_size,
        "images": len(photos),
        "ours_ms": ours,
        "parts_ms": parts,
        "forward_alone_ms": fwd,
        "tutorial_ms": tut,
        "busy_forward_ms_by_threads": busy,
        "amp_opt_in": amp,
    }
    report.ratio("3a. inference: end-to-end / forward", median(ours) / median(fwd), 1.3, what="medians, ms")
    report.ratio(
        "3b. inference: tutorial / ours",
        (sum(tut) / len(tut)) / (sum(ours) / len(ours)),
        1.0,
        at_most=False,
        what="mean ms per image: stalls count, as users feel them",
    )
    report.finish()


if __name__ == "__main__":
    main()
