"""ResNet construction and pretrained weights (ImageNet from the torch hub cache, or a file).

Nothing here touches the network: engine/model/hub.py downloads (`ensure_pretrained`) before a build.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from pathlib import Path

import torch
import torchvision
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from resnet_gui.engine.config import ARCHS
from resnet_gui.engine.errors import CheckpointError, EngineError, PretrainedWeightsMissing
from resnet_gui.engine.model import hub
from resnet_gui.engine.model.weights import clean_state_dict, infer_arch, read_state_dict

log = logging.getLogger(__name__)

__all__ = [
    "arch_summary",
    "backbone_and_head_params",
    "build_model",
    "check_arch",
    "imagenet_weights_available",
    "imagenet_weights_file",
    "set_train_mode",
]


def check_arch(arch: str) -> str:
    """Return the normalised arch name or raise EngineError listing the choices."""
    name = str(arch).strip().lower()
    if name not in ARCHS:
        raise EngineError(f"unknown architecture '{arch}': choose one of {', '.join(ARCHS)}")
    return name


def _construct(arch: str, num_classes: int, zero_init_residual: bool = False) -> nn.Module:
    """A fresh torchvision ResNet with a `num_classes`-way fc (honours the default torch.device context)."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise EngineError(f"the number of classes must be a positive whole number, not {num_classes!r}")
    factory = getattr(torchvision.models, check_arch(arch))
    return factory(weights=None, num_classes=num_classes, zero_init_residual=zero_init_residual)


def _weights_enum(arch: str, version: str):
    enum = torchvision.models.get_model_weights(check_arch(arch))
    return getattr(enum, version, None)


def _file_of(weights) -> Path:
    filename = weights.url.rsplit("/", 1)[-1]
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _imagenet_candidates(arch: str) -> list:
    """Weights enums in order of preference: V2 (better) where torchvision has it, then V1."""
    out = []
    for version in ("IMAGENET1K_V2", "IMAGENET1K_V1"):
        weights = _weights_enum(arch, version)
        if weights is not None:
            out.append(weights)
    return out


def imagenet_weights_file(arch: str) -> Path:
    """Where torchvision's ImageNet weights for `arch` live in the torch hub cache.

    For resnet50/101/152 the IMAGENET1K_V2 file is used when present, else IMAGENET1K_V1 (the path
    returned when neither is there).
    """
    return hub.cached_imagenet(arch) or hub.imagenet_sources(arch)[-1].path


def imagenet_weights_available(arch: str) -> bool:
    """True when a torchvision ImageNet weights file for `arch` is already on disk."""
    return imagenet_weights_file(arch).is_file()


def _missing_imagenet_message(arch: str) -> str:
    candidates = _imagenet_candidates(arch)
    primary = candidates[-1]
    path = _file_of(primary)
    message = (
        f"ImageNet weights for {arch} are not on this machine (`resnet-gui train --pretrained imagenet` "
        f"downloads them, as does the app): or put {path.name} "
        f"into {path.parent} (get it from {primary.url} on a machine with internet"
    )
    if len(candidates) > 1:
        newer = candidates[0]
        message += f", or the better {newer.url.rsplit('/', 1)[-1]} from {newer.url}"
    return message + "), or pass --pretrained PATH to a weights file"


def _load_pretrained(model: nn.Module, arch: str, state_dict: Mapping[str, Tensor], source: str) -> None:
    """Copy every matching weight into `model`; the fc head stays freshly initialised if shapes differ."""
    sd = clean_state_dict(state_dict)
    found = infer_arch(sd)
    if found != arch:
        raise CheckpointError(f"{source} holds {found} weights but {arch} was asked for")
    own = model.state_dict()
    usable: dict[str, Tensor] = {}
    skipped: list[str] = []
    for key, value in sd.items():
        if key in own and own[key].shape == value.shape:
            usable[key] = value
        else:
            skipped.append(key)
    bad = [k for k in skipped if not k.startswith("fc.")]
    if bad:
        raise CheckpointError(f"{source} does not fit {arch}: {len(bad)} weights differ, e.g. {bad[0]}")
    missing = [
        k for k in own if k not in usable and not k.startswith("fc.") and "num_batches_tracked" not in k
    ]
    if missing:
        raise CheckpointError(f"{source} lacks {len(missing)} {arch} weights, e.g. {missing[0]}")
    model.load_state_dict(usable, strict=False)
    head = "kept" if "fc.weight" in usable else "re-initialised for the new classes"
    log.info("loaded %d pretrained tensors from %s (classifier %s)", len(usable), source, head)


def build_model(
    arch: str,
    num_classes: int,
    pretrained: str | Path | None = None,
    freeze_backbone: bool = False,
    zero_init_residual: bool = False,
) -> nn.Module:
    """A torchvision ResNet with a `num_classes`-way head, optionally starting from pretrained weights.

    `pretrained`: None/"none", "imagenet" (the torch hub cache; never downloads), a URL fetched
    before (hub.ensure_pretrained) or the path of a weights file (torchvision .pth state_dict or our .safetensors). The fc head is re-initialised when
    the class counts differ. `freeze_backbone` leaves only fc trainable; train it with
    `set_train_mode(model, True)` so the frozen BatchNorm statistics stay fixed.
    """
    arch = check_arch(arch)
    model = _construct(arch, num_classes, zero_init_residual)
    choice = "none" if pretrained is None else str(pretrained).strip()
    if choice.lower() in ("", "none"):
        pass
    elif choice.lower() == "imagenet":
        path = imagenet_weights_file(arch)
        if not path.is_file():
            raise PretrainedWeightsMissing(_missing_imagenet_message(arch))
        _load_pretrained(model, arch, read_state_dict(path)[0], path.name)
    else:
        path = Path(choice).expanduser()
        if hub.is_url(choice):  # downloaded beforehand (hub.ensure_pretrained): here only the cache is read
            path = hub.url_source(choice).path
            if not path.is_file():
                raise PretrainedWeightsMissing(f"{choice} is not downloaded yet (expected in {path.parent})")
        if not path.is_file():
            raise PretrainedWeightsMissing(
                f"pretrained weights '{choice}' not found: give none, imagenet or the path of a weights file"
            )
        _load_pretrained(model, arch, read_state_dict(path)[0], path.name)
    if freeze_backbone:
        for name, param in model.named_parameters():
            param.requires_grad = name.startswith("fc.")
    return model


def set_train_mode(model: nn.Module, freeze_backbone: bool) -> nn.Module:
    """model.train(), but with a frozen backbone its BatchNorm layers stay in eval (running stats fixed)."""
    model.train()
    if freeze_backbone:
        for name, module in model.named_modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and not name.startswith("fc"):
                module.eval()
    return model


def backbone_and_head_params(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Trainable parameters split into (backbone, fc head), e.g. for a lower backbone learning rate.

    Frozen parameters are left out, so the backbone list is empty when the backbone is frozen.
    """
    backbone: list[nn.Parameter] = []
    head: list[nn.Parameter] = []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (head if name.startswith("fc.") else backbone).append(param)
    return backbone, head


@functools.lru_cache(maxsize=64)
def _summary(arch: str, img_size: int, num_classes: int) -> tuple[int, int]:
    with torch.device("meta"):
        model = _construct(arch, num_classes).eval()
        x = torch.empty(1, 3, img_size, img_size)
    params = sum(p.numel() for p in model.parameters())
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return params, counter.get_total_flops() // 2


def arch_summary(arch: str, img_size: int = 224, num_classes: int = 1000) -> dict:
    """{"params", "macs", "gflops"} for one image, measured on the meta device (no memory, cached).

    "gflops" follows torchvision's and the ResNet paper's convention: billions of multiply-adds
    (resnet18 at 224: 1.81, resnet50: 4.09).
    """
    if int(img_size) < 1:
        raise EngineError(f"the image size must be a positive number of pixels, not {img_size}")
    params, macs = _summary(check_arch(arch), int(img_size), int(num_classes))
    return {"params": params, "macs": macs, "gflops": round(macs / 1e9, 3)}
