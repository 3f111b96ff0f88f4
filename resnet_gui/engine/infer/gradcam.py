"""Grad-CAM (Selvaraju et al. 2017): where in the picture the model looked for the class it chose.

The class score's gradient with respect to the last conv stage's activations (`layer4`), averaged over
space, weights that stage's channels; their ReLU'd sum is the heatmap. It is upsampled onto the part of
the original image the model actually saw (the eval transform's centre crop) and drawn over the photo.

The forward pass is run stage by stage (the same modules, in torchvision's `ResNet._forward_impl` order)
rather than through forward hooks, so nothing is ever registered on the model: it stays safe to use from
another thread (the app classifies and explains with one shared model) and no state outlives the call.
Parameter gradients are never accumulated (`torch.autograd.grad` on the activations only).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from resnet_gui.engine.data.images import load_image
from resnet_gui.engine.data.transforms import build_eval_transform, eval_resize_size
from resnet_gui.engine.errors import EngineError

log = logging.getLogger(__name__)

__all__ = ["CamResult", "crop_box", "gradcam", "gradcam_image", "heat_colors", "overlay_heatmap"]

STAGES = ("layer1", "layer2", "layer3", "layer4")


@dataclass
class CamResult:
    """A Grad-CAM explanation of one prediction, at the original image's size."""

    heatmap: np.ndarray  # float32 [H, W] in [0, 1] (0 outside the region the model saw)
    overlay: (
        Image.Image
    )  # RGB, the photo with the heatmap drawn over it, same size as the input (or max_side)
    class_index: int
    class_name: str
    prob: float
    layer: str  # the stage explained, e.g. "layer4"
    cam_size: tuple[int, int]  # (h, w) of that stage's feature map, before upsampling
    box: tuple[int, int, int, int]  # (left, top, right, bottom) of the centre crop seen, in heatmap pixels


def _stage_outputs(model: nn.Module, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """torchvision ResNet forward, keeping each stage's output; returns (stages, logits)."""
    missing = [
        n for n in ("conv1", "bn1", "relu", "maxpool", *STAGES, "avgpool", "fc") if not hasattr(model, n)
    ]
    if missing:
        raise EngineError(f"Grad-CAM needs a torchvision ResNet; this model has no {', '.join(missing)}")
    h = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    outs: dict[str, torch.Tensor] = {}
    for name in STAGES:
        h = getattr(model, name)(h)
        outs[name] = h
    logits = model.fc(torch.flatten(model.avgpool(h), 1))
    return outs, logits


def gradcam(
    model: nn.Module, x: torch.Tensor, target: int | None = None, layer: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Grad-CAM of one image tensor `x` [1, 3, S, S] for class `target` (None: the predicted class).

    Returns (cam [h, w] in [0, 1] on the CPU, logits [1, K], the stage used). `layer="auto"` explains
    `layer4`, the last conv stage, unless its map is a single pixel (inputs under 64 px), where nothing
    can be localised: then `layer3`. The model must be in eval mode (BatchNorm statistics stay untouched).
    """
    if x.dim() != 4 or x.shape[0] != 1:
        raise EngineError("Grad-CAM explains one image at a time: expected a [1, 3, H, W] tensor")
    if model.training:
        raise EngineError("Grad-CAM needs the model in eval mode")
    if layer != "auto" and layer not in STAGES:
        raise EngineError(f"unknown layer {layer!r}: use auto or one of {', '.join(STAGES)}")
    with torch.inference_mode(False), torch.enable_grad():
        x = x.detach().clone().requires_grad_(True)  # a graph even when the backbone is frozen
        outs, logits = _stage_outputs(model, x)
        if layer == "auto":
            layer = "layer4" if outs["layer4"].shape[-2:].numel() > 1 else "layer3"
        acts = outs[layer]
        index = int(logits[0].argmax()) if target is None else int(target)
        if not 0 <= index < logits.shape[1]:
            raise EngineError(f"class index {index} is out of range for a {logits.shape[1]}-class model")
        (grads,) = torch.autograd.grad(logits[0, index], acts)
    weights = grads.float().mean(dim=(2, 3), keepdim=True)  # [1, C, 1, 1]
    cam = torch.relu((weights * acts.detach().float()).sum(dim=1))[0]  # [h, w]
    top = cam.max()
    cam = cam / top if top > 0 else torch.zeros_like(cam)  # nothing speaks for the class: an empty map
    return cam.cpu(), logits.detach(), layer


def crop_box(width: int, height: int, img_size: int) -> tuple[float, float, float, float]:
    """Where the eval transform's Resize(img_size*256/224) + CenterCrop(img_size) falls in the original."""
    short = eval_resize_size(img_size)
    if width <= height:
        new_w, new_h = short, int(short * height / width)
    else:
        new_w, new_h = int(short * width / height), short
    left = int(round((new_w - img_size) / 2.0))
    top = int(round((new_h - img_size) / 2.0))
    sx, sy = width / new_w, height / new_h
    return left * sx, top * sy, (left + img_size) * sx, (top + img_size) * sy


def heat_colors(heat: np.ndarray) -> np.ndarray:
    """The "jet" colour map (blue -> cyan -> yellow -> red) for values in [0, 1]: uint8 [..., 3]."""
    v = np.clip(heat, 0.0, 1.0)[..., None] * 4.0
    rgb = np.clip(1.5 - np.abs(v - np.array([3.0, 2.0, 1.0], dtype=np.float32)), 0.0, 1.0)
    return (rgb * 255.0 + 0.5).astype(np.uint8)


OUTSIDE_DIM = 0.5  # brightness of the parts the centre crop cut off (the model never saw them)


def overlay_heatmap(
    image: Image.Image,
    heatmap: np.ndarray,
    alpha: float = 0.5,
    box: tuple[float, float, float, float] | None = None,
) -> Image.Image:
    """The photo with `heatmap` ([H, W] in [0, 1], same size) blended over it at `alpha`.

    With `box` (left, top, right, bottom), only that region is coloured; the rest is dimmed.
    """
    base = np.asarray(image.convert("RGB"), dtype=np.float32)
    if heatmap.shape != base.shape[:2]:
        raise EngineError(f"heatmap is {heatmap.shape}, image is {base.shape[:2]}")
    colors = heat_colors(heatmap).astype(np.float32)
    out = (1.0 - alpha) * base + alpha * colors
    if box is not None:
        left, top, right, bottom = _pixel_box(box, base.shape[1], base.shape[0])
        inside = np.zeros(base.shape[:2], dtype=bool)
        inside[top:bottom, left:right] = True
        out[~inside] = base[~inside] * OUTSIDE_DIM
    return Image.fromarray((out + 0.5).clip(0, 255).astype(np.uint8), "RGB")


def _pixel_box(box: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
    """`box` rounded to whole pixels inside a width x height canvas, at least one pixel wide and high."""
    left, top, right, bottom = (round(v) for v in box)
    left, top = min(max(0, left), width - 1), min(max(0, top), height - 1)
    return left, top, min(width, max(right, left + 1)), min(height, max(bottom, top + 1))


def _upsample(
    cam: torch.Tensor, width: int, height: int, box: tuple[float, float, float, float]
) -> np.ndarray:
    """The [h, w] map stretched over `box` of a width x height canvas (zero outside), bilinear."""
    left, top, right, bottom = _pixel_box(box, width, height)
    full = np.zeros((height, width), dtype=np.float32)
    inner = F.interpolate(
        cam[None, None], size=(bottom - top, right - left), mode="bilinear", align_corners=False
    )
    full[top:bottom, left:right] = inner[0, 0].clamp(0, 1).numpy()
    return full


def gradcam_image(
    model: nn.Module,
    source: str | Path | Image.Image,
    classes: Sequence[str],
    img_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    target: int | str | None = None,
    layer: str = "auto",
    alpha: float = 0.5,
    max_side: int | None = None,
    temperature: float = 1.0,
    canvas: Image.Image | None = None,
) -> CamResult:
    """Explain the model's answer (or class `target`, by index or name) for one image file or PIL image.

    The image goes through the checkpoint's own eval preprocessing; the heatmap and the overlay come
    back at the original image's size, or shrunk to fit `max_side` (for a screen: the model still sees
    the full image). Raises ImageLoadError for unreadable files. `temperature`: the checkpoint's
    calibration (the caption's probability is the one predict shows); `canvas`: draw on this picture of
    the same scene instead (e.g. a screen-size decode when the model saw a reduced one).
    """
    image = load_image(source)
    if isinstance(target, str):
        if target not in classes:
            raise EngineError(f"unknown class {target!r}; the model knows {', '.join(classes)}")
        target = list(classes).index(target)
    device = next(model.parameters()).device
    x = build_eval_transform(img_size, mean, std)(image).unsqueeze(0).to(device)
    cam, logits, used = gradcam(model, x, target=target, layer=layer)
    index = int(logits[0].argmax()) if target is None else int(target)
    prob = float(torch.softmax(logits.float() / temperature, dim=1)[0, index])
    box = crop_box(image.width, image.height, img_size)
    shown = image if canvas is None else load_image(canvas)
    if max_side is not None and max(shown.size) > max_side:
        scale = max_side / max(shown.size)
        shown = shown.resize((max(1, round(shown.width * scale)), max(1, round(shown.height * scale))))
    if shown.size != image.size:
        box = tuple(v * shown.width / image.width for v in box)  # type: ignore[assignment]
    heat = _upsample(cam, shown.width, shown.height, box)
    name = classes[index] if index < len(classes) else str(index)
    ibox = _pixel_box(box, shown.width, shown.height)
    return CamResult(
        heatmap=heat,
        overlay=overlay_heatmap(shown, heat, alpha, box=ibox),
        class_index=index,
        class_name=name,
        prob=prob,
        layer=used,
        cam_size=(int(cam.shape[0]), int(cam.shape[1])),
        box=ibox,
    )


def explain(predictor: object, source: str | Path | Image.Image, **kwargs: object) -> CamResult:
    """`gradcam_image` with a loaded `Predictor`'s model, classes, decode, preprocessing and calibration:
    its probability is the one `predictor.predict` gives for the same file or image."""
    meta = predictor.meta  # type: ignore[attr-defined]
    trust = getattr(predictor, "trust", None)
    if trust is not None:
        kwargs.setdefault("temperature", trust.temperature)
    if not isinstance(source, Image.Image):
        source = predictor.decode(source)  # type: ignore[attr-defined]  # predict's (reduced) decode
    return gradcam_image(
        predictor.model,  # type: ignore[attr-defined]
        source,
        predictor.classes,  # type: ignore[attr-defined]
        meta.img_size,
        meta.mean,
        meta.std,
        **kwargs,  # type: ignore[arg-type]
    )
