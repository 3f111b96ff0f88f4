"""Grad-CAM: right size, not constant, the textbook formula, and no state left on the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from resnet_gui.engine.errors import EngineError
from resnet_gui.engine.infer.gradcam import crop_box, gradcam, gradcam_image, heat_colors
from resnet_gui.engine.model.build import build_model
from resnet_gui.engine.model.checkpoint import load_model

CLASSES = ["a", "b", "c", "d"]
NORM = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def reference_cam(model: torch.nn.Module, x: torch.Tensor, target: int, layer: str) -> torch.Tensor:
    """Grad-CAM the usual way (forward + backward hooks on the stage), as an independent check."""
    saved: dict[str, torch.Tensor] = {}
    stage = getattr(model, layer)
    h1 = stage.register_forward_hook(lambda _m, _i, out: saved.__setitem__("act", out))
    h2 = stage.register_full_backward_hook(lambda _m, _gi, go: saved.__setitem__("grad", go[0]))
    try:
        model.zero_grad()
        model(x)[0, target].backward()
    finally:
        h1.remove()
        h2.remove()
        model.zero_grad(set_to_none=True)
    w = saved["grad"].mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((w * saved["act"]).sum(1))[0]
    return cam / cam.max()


def shape_image(size: tuple[int, int] = (96, 72)) -> Image.Image:
    """A grey picture with a bright square off-centre: something to look at."""
    arr = np.full((size[1], size[0], 3), 90, np.uint8)
    arr[10:40, 50:85] = (250, 220, 40)
    return Image.fromarray(arr)


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])  # BasicBlock and Bottleneck
def test_cam_matches_the_hook_based_formula(arch: str) -> None:
    torch.manual_seed(0)
    model = build_model(arch, len(CLASSES)).eval()
    x = torch.randn(1, 3, 96, 96)
    cam, logits, layer = gradcam(model, x, target=2)
    assert layer == "layer4" and cam.shape == (3, 3)
    with torch.no_grad():
        assert torch.allclose(logits, model(x), atol=1e-5)  # the stage-by-stage forward is the model's
    assert torch.allclose(cam, reference_cam(model, x, 2, "layer4"), atol=1e-4)
    assert cam.max() == pytest.approx(1.0) and cam.min() >= 0
    # nothing left behind: no hooks, no parameter gradients, still in eval mode
    assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())
    assert all(p.grad is None for p in model.parameters())
    assert not model.training


def test_overlay_has_the_image_size_and_is_not_constant(checkpoint) -> None:
    model, meta = load_model(checkpoint, device="cpu")
    img = shape_image((96, 72))
    r = gradcam_image(model, img, meta.classes, meta.img_size, meta.mean, meta.std)
    assert r.heatmap.shape == (72, 96) and r.heatmap.dtype == np.float32
    assert r.overlay.size == (96, 72) and r.overlay.mode == "RGB"
    assert r.heatmap.min() >= 0.0 and r.heatmap.max() <= 1.0
    left, top, right, bottom = r.box
    inside = r.heatmap[top:bottom, left:right]
    assert inside.std() > 0.01  # not constant where the model looked
    assert r.heatmap[:, :left].max() == 0  # the sides the centre crop cut off get no heat
    # ... and are shown dimmed, not coloured
    outside = np.asarray(r.overlay)[:, :left].astype(int)
    assert np.abs(outside - (np.asarray(img)[:, :left] * 0.5 + 0.5).astype(int)).max() <= 1
    assert r.layer == "layer3" and r.cam_size == (2, 2)  # 32 px: layer4 is 1x1, so the stage before
    assert r.class_name in meta.classes and 0 < r.prob <= 1
    assert np.asarray(r.overlay).std() > 0
    assert not np.array_equal(np.asarray(r.overlay), np.asarray(img))


def test_target_by_name_and_the_predicted_class(checkpoint) -> None:
    model, meta = load_model(checkpoint, device="cpu")
    img = shape_image()
    auto = gradcam_image(model, img, meta.classes, meta.img_size, meta.mean, meta.std)
    with torch.no_grad():
        from resnet_gui.engine.data.transforms import build_eval_transform

        x = build_eval_transform(meta.img_size, meta.mean, meta.std)(img).unsqueeze(0)
        probs = torch.softmax(model(x), 1)[0]
    assert auto.class_index == int(probs.argmax()) and auto.prob == pytest.approx(
        float(probs.max()), abs=1e-5
    )
    other = next(c for c in meta.classes if c != auto.class_name)
    named = gradcam_image(model, img, meta.classes, meta.img_size, meta.mean, meta.std, target=other)
    assert named.class_name == other
    with pytest.raises(EngineError, match="unknown class"):
        gradcam_image(model, img, meta.classes, meta.img_size, meta.mean, meta.std, target="zebra")


def test_bad_arguments_are_engine_errors() -> None:
    model = build_model("resnet18", 3)
    with pytest.raises(EngineError, match="eval mode"):
        gradcam(model.train(), torch.zeros(1, 3, 64, 64))
    model.eval()
    with pytest.raises(EngineError, match="one image"):
        gradcam(model, torch.zeros(2, 3, 64, 64))
    with pytest.raises(EngineError, match="unknown layer"):
        gradcam(model, torch.zeros(1, 3, 64, 64), layer="fc")
    with pytest.raises(EngineError, match="out of range"):
        gradcam(model, torch.zeros(1, 3, 64, 64), target=3)


def test_crop_box_follows_the_eval_transform() -> None:
    # a square image: the centre 224/256 of it
    left, top, right, bottom = crop_box(256, 256, 224)
    assert (left, top, right, bottom) == pytest.approx((16, 16, 240, 240))
    # landscape: full height minus the border, centred horizontally
    left, top, right, bottom = crop_box(512, 256, 224)
    assert (right - left) == pytest.approx(224) and (left + right) / 2 == pytest.approx(256)


def test_colour_map_runs_blue_to_red() -> None:
    c = heat_colors(np.array([0.0, 0.5, 1.0], np.float32))
    assert c[0, 2] > 100 and c[0, 0] == 0  # cold: blue
    assert c[2, 0] > 100 and c[2, 2] == 0  # hot: red
    assert c[1, 1] == 255  # middle: green-ish


def test_max_side_shrinks_the_overlay_but_not_what_the_model_sees(checkpoint) -> None:
    model, meta = load_model(checkpoint, device="cpu")
    img = shape_image((400, 300))
    full = gradcam_image(model, img, meta.classes, meta.img_size, meta.mean, meta.std)
    small = gradcam_image(model, img, meta.classes, meta.img_size, meta.mean, meta.std, max_side=100)
    assert full.heatmap.shape == (300, 400) and full.overlay.size == (400, 300)
    assert small.heatmap.shape == (75, 100) and small.overlay.size == (100, 75)
    assert small.prob == pytest.approx(full.prob) and small.class_index == full.class_index
    assert [round(v / 4) for v in full.box] == pytest.approx(list(small.box), abs=1)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_gives_the_cpu_heatmap() -> None:
    torch.manual_seed(0)
    model = build_model("resnet18", len(CLASSES)).eval()
    img = shape_image((96, 72))
    cpu = gradcam_image(model, img, CLASSES, 64, *NORM)
    gpu = gradcam_image(model.cuda(), img, CLASSES, 64, *NORM)
    assert gpu.class_index == cpu.class_index
    np.testing.assert_allclose(gpu.heatmap, cpu.heatmap, atol=2e-2)  # cuDNN may use TF32
