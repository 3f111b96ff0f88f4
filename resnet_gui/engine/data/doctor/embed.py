"""A checkpoint's penultimate-layer embeddings (the pooled features its last layer reads), in batches."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

BATCH = 64


def checkpoint_embeddings(
    checkpoint: str,
    paths: list[str],
    device: str = "cpu",
    emit: Callable[..., None] | None = None,
    stop: threading.Event | None = None,
) -> np.ndarray | None:
    """(len(paths), features) float32, with the checkpoint's own preprocessing; None if stopped."""
    import torch

    from resnet_gui.engine.data.doctor.report import DoctorProgress
    from resnet_gui.engine.data.images import load_image
    from resnet_gui.engine.data.transforms import build_eval_transform
    from resnet_gui.engine.device import resolve_device, restored_threads
    from resnet_gui.engine.model.checkpoint import load_model

    target = resolve_device(device)
    model, meta = load_model(checkpoint, device=target)
    model.fc = torch.nn.Identity()
    transform = build_eval_transform(meta.img_size, meta.mean, meta.std)
    out = []
    with restored_threads(), torch.inference_mode():
        for start in range(0, len(paths), BATCH):
            if stop is not None and stop.is_set():
                return None
            batch = torch.stack([transform(load_image(p)) for p in paths[start : start + BATCH]])
            out.append(model(batch.to(target)).float().cpu().numpy())
            if emit is not None:
                emit(DoctorProgress("embedding", min(len(paths), start + BATCH), len(paths)))
    return np.concatenate(out).astype(np.float32)
