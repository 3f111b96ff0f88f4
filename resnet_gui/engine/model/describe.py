"""Layer-by-layer summary of a ResNet (`resnet-gui inspect`): output shapes, parameters, multiply-adds.

Measured, not tabulated: the model is built on the meta device (no memory, no weights) and run once
while a dispatch mode adds up FLOPs with torch's own formulas (`torch.utils.flop_counter`); each row's
MACs (FLOPs / 2) are what the counter moved while that row's module ran. Only convolutions and the fc
layer count, as in the ResNet paper's table 1 and torchvision's docs.

torch's FlopCounterMode is not used for the rows: it attributes FLOPs to modules through global module
hooks, so a forward pass in another thread (the app classifies while it describes) scrambles them.
The dispatch mode is thread-local and the hooks here sit on this private model only.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from resnet_gui.engine.config import ARCHS
from resnet_gui.engine.errors import EngineError
from resnet_gui.engine.model.build import _construct

log = logging.getLogger(__name__)

__all__ = ["LayerRow", "ModelDescription", "describe_model", "human_number"]


@dataclass
class LayerRow:
    """One row: a stem layer, a residual block or a head layer (or every leaf with leaves=True)."""

    name: str  # module path, e.g. "layer2.0"
    type: str  # class name, e.g. "Conv2d", "BasicBlock", "Bottleneck"
    output_shape: list[int]  # per image, without the batch dimension: [C, H, W] or [features]
    params: int
    macs: int


@dataclass
class ModelDescription:
    """The whole model: totals plus rows in forward order (rows add up to the totals)."""

    arch: str
    num_classes: int
    img_size: int
    params_total: int
    params_trainable: int
    macs_total: int
    layers: list[LayerRow] = field(default_factory=list)

    def to_json(self) -> dict:
        """The `inspect --json` object."""
        return asdict(self)

    def shape_summary(self) -> dict:
        """The architecture at a glance: block type, blocks per stage, and the feature-map sizes.

        {"block": "BasicBlock" | "Bottleneck", "blocks": [2, 2, 2, 2], "stem": 112, "sizes": [112, 56, 28,
        14, 7] (conv1, then each stage's output side), "channels": [64, 128, 256, 512]}. Empty lists for
        a description listed by leaves.
        """
        stages = []
        for i in (1, 2, 3, 4):
            blocks = [r for r in self.layers if r.name.startswith(f"layer{i}.") and r.name.count(".") == 1]
            if blocks:
                stages.append((len(blocks), blocks[-1]))
        conv1 = next((r for r in self.layers if r.name == "conv1"), None)
        stem = conv1.output_shape[-1] if conv1 is not None and len(conv1.output_shape) == 3 else None
        return {
            "block": stages[0][1].type if stages else "",
            "blocks": [n for n, _ in stages],
            "stem": stem,
            "sizes": ([stem] if stem else []) + [last.output_shape[-1] for _, last in stages],
            "channels": [last.output_shape[0] for _, last in stages],
        }

    def shape_text(self) -> str:
        """One line, e.g. "BasicBlock x [2, 2, 2, 2]; feature maps 112-56-28-14-7 px; channels 64-128-256-512"."""
        s = self.shape_summary()
        if not s["blocks"]:
            return ""
        return (
            f"{s['block']} x {s['blocks']}; feature maps {'-'.join(map(str, s['sizes']))} px; "
            f"channels {'-'.join(map(str, s['channels']))}"
        )

    def to_table(self) -> str:
        """Aligned text for the terminal, with human numbers (11.7M, 1.81G)."""
        header = ("Layer", "Type", "Output", "Params", "MACs")
        body = [
            (
                r.name,
                r.type,
                "x".join(str(d) for d in r.output_shape),
                human_number(r.params),
                human_number(r.macs),
            )
            for r in self.layers
        ]
        widths = [max(len(row[i]) for row in [header, *body]) for i in range(5)]

        def line(cells: tuple[str, ...]) -> str:
            left = [c.ljust(w) for c, w in zip(cells[:3], widths[:3], strict=True)]
            right = [c.rjust(w) for c, w in zip(cells[3:], widths[3:], strict=True)]
            return "  ".join(left + right).rstrip()

        rule = "-" * len(line(header))
        lines = [
            f"{self.arch}: {self.num_classes} classes, {self.img_size}x{self.img_size} input",
            *([self.shape_text()] if self.shape_text() else []),
            rule,
            line(header),
            rule,
            *(line(cells) for cells in body),
            rule,
            f"Params: {human_number(self.params_total)} ({self.params_total:,}), "
            f"trainable {human_number(self.params_trainable)} ({self.params_trainable:,})",
            f"MACs per image: {human_number(self.macs_total)} ({self.macs_total:,} multiply-adds)",
        ]
        return "\n".join(lines)


def human_number(n: int | float) -> str:
    """11689512 -> "11.7M", 1814073344 -> "1.81G", 0 -> "-"."""
    if n == 0:
        return "-"
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{suffix}"
    return f"{n:g}" if isinstance(n, float) else str(n)


class _FlopCount(TorchDispatchMode):
    """FLOPs of the ops run in this thread while active (torch's per-op formulas, no module tracking)."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += int(formula(*args, **kwargs, out_val=out))
        return out


def _rows_of(model: nn.Module, leaves: bool) -> list[tuple[str, nn.Module]]:
    """Stem layers, the blocks of each stage, and the head; or every leaf module."""
    if leaves:
        return [(n, m) for n, m in model.named_modules() if n and not any(True for _ in m.children())]
    rows: list[tuple[str, nn.Module]] = []
    for name, child in model.named_children():
        if isinstance(child, nn.Sequential):  # a stage: one row per residual block
            rows.extend((f"{name}.{sub}", block) for sub, block in child.named_children())
        else:
            rows.append((name, child))
    return rows


def _resolve(
    arch_or_checkpoint: str | Path, num_classes: int | None, img_size: int | None
) -> tuple[str, int, int]:
    text = str(arch_or_checkpoint).strip()
    if text.lower() in ARCHS:
        return text.lower(), num_classes or 1000, img_size or 224
    from resnet_gui.engine.model import imagenet

    if imagenet.is_spec(text):  # the architecture is in the name: no weights needed
        return imagenet.parse_spec(text), num_classes or 1000, img_size or imagenet.IMAGENET_IMG_SIZE
    path = Path(text).expanduser()
    if not path.is_file():
        raise EngineError(f"'{text}' is neither an architecture ({', '.join(ARCHS)}) nor a checkpoint file")
    from resnet_gui.engine.model.checkpoint import load_checkpoint

    _, meta = load_checkpoint(path)
    return meta.arch, num_classes or len(meta.classes), img_size or meta.img_size


def describe_model(
    arch_or_checkpoint: str | Path,
    num_classes: int | None = None,
    img_size: int | None = None,
    *,
    leaves: bool = False,
    freeze_backbone: bool = False,
) -> ModelDescription:
    """Describe an architecture (1000 classes, 224 px by default) or the model of a checkpoint.

    For a checkpoint, arch, class count and image size come from the file unless given here.
    `leaves=True` lists every leaf layer instead of whole residual blocks; `freeze_backbone` only
    changes `params_trainable`.
    """
    arch, n_classes, size = _resolve(arch_or_checkpoint, num_classes, img_size)
    if size < 1:
        raise EngineError(f"the image size must be a positive number of pixels, not {size}")
    with torch.device("meta"):
        model = _construct(arch, int(n_classes))
        x = torch.empty(1, 3, size, size)
    model.eval()
    selected = _rows_of(model, leaves)
    # in forward order; a module run twice (ReLU) gives two rows, each with the FLOPs of its own call
    calls: list[tuple[str, list[int], int]] = []
    counter = _FlopCount()
    started: dict[str, int] = {}

    def pre_hook_for(name: str):
        def pre_hook(_module: nn.Module, _inputs: object) -> None:
            started[name] = counter.total

        return pre_hook

    def hook_for(name: str):
        def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            calls.append((name, list(output.shape[1:]), counter.total - started.pop(name)))

        return hook

    handles = [module.register_forward_pre_hook(pre_hook_for(name)) for name, module in selected]
    handles += [module.register_forward_hook(hook_for(name)) for name, module in selected]
    try:
        with counter, torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()

    modules = dict(selected)
    rows = []
    seen: set[str] = set()
    for name, shape, flops in calls:
        first = name not in seen  # params go to a module's first row, so rows add up to totals
        seen.add(name)
        params = sum(p.numel() for p in modules[name].parameters()) if first else 0
        rows.append(LayerRow(name, type(modules[name]).__name__, shape, params, flops // 2))
    params_total = sum(p.numel() for p in model.parameters())
    if freeze_backbone:
        trainable = sum(p.numel() for n, p in model.named_parameters() if n.startswith("fc."))
    else:
        trainable = params_total
    return ModelDescription(
        arch=arch,
        num_classes=int(n_classes),
        img_size=size,
        params_total=params_total,
        params_trainable=trainable,
        macs_total=counter.total // 2,
        layers=rows,
    )
