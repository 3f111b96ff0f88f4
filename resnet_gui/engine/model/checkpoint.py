"""Model files: one .safetensors with JSON metadata in its header; loading never runs code.

This module writes them (atomically: temp file, fsync, os.replace), turns their metadata into a
`CheckpointMeta`, finds class names for seed-style files (.pt/.pth/.pkl holding a state_dict, from plain
torchvision scripts) and keeps the training state for --resume beside them. Reading the bytes of any
weights file is `weights.py`'s job.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch
import torchvision
from torch import Tensor, nn

import resnet_gui
from resnet_gui.engine.config import IMAGENET_MEAN, IMAGENET_STD
from resnet_gui.engine.errors import CheckpointError, EngineError
from resnet_gui.engine.fileio import atomic_write_bytes, atomic_write_many
from resnet_gui.engine.model.build import build_model, check_arch
from resnet_gui.engine.model.schema import check_class_names, check_metadata
from resnet_gui.engine.model.weights import (
    METADATA_KEY,
    check_finite,
    clean_state_dict,
    first_line,
    infer_arch,
    num_classes_of,
    read_state_dict,
    state_dict_error,
    torch_load,
)

log = logging.getLogger(__name__)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "CheckpointMeta",
    "checkpoint_writer",
    "current_versions",
    "load_checkpoint",
    "load_model",
    "load_training_state",
    "read_classes_file",
    "save_checkpoint",
    "save_training_state",
    "training_state_bytes",
    "training_state_path",
]

FORMAT = "resnet-gui"
FORMAT_VERSION = 1
CLASS_INDEX_FILE = "class_indices.json"


def current_versions() -> dict[str, str]:
    """Versions recorded in every checkpoint we write."""
    return {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "resnet_gui": resnet_gui.__version__,
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class CheckpointMeta:
    """Everything needed to use the weights: architecture, class names, preprocessing, provenance."""

    arch: str
    classes: list[str]
    img_size: int
    mean: list[float] = field(default_factory=lambda: list(IMAGENET_MEAN))
    std: list[float] = field(default_factory=lambda: list(IMAGENET_STD))
    metrics: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    versions: dict = field(default_factory=current_versions)
    created: str = field(default_factory=_now)
    source: str = "resnet-gui"  # or "state_dict" for seed-style files
    warnings: list[str] = field(default_factory=list)  # e.g. class names were made up
    trust: dict = field(default_factory=dict)  # optional: calibration + open-set (engine/infer/trust.py)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to_dict(self) -> dict:
        """Plain JSON-able dict of all fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> CheckpointMeta:
        """Build from a dict, ignoring unknown keys (files from newer versions may carry more)."""
        names = {f.name for f in dataclasses.fields(cls)}
        missing = [n for n in ("arch", "classes", "img_size") if n not in data]
        if missing:
            raise CheckpointError(f"checkpoint metadata lacks {', '.join(missing)}")
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["classes"] = [str(c) for c in kwargs["classes"]]
        kwargs["img_size"] = int(kwargs["img_size"])
        return cls(**kwargs)


def _json_default(value: object) -> object:
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        try:
            return value.item()
        except (ValueError, RuntimeError):
            pass
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)  # Path, enum, ...


# ---------------------------------------------------------------------------------------------- writing


def save_checkpoint(
    path: str | Path, model_or_state_dict: nn.Module | Mapping[str, Tensor], meta: CheckpointMeta
) -> Path:
    """Write weights + metadata as one .safetensors file, atomically; returns the path."""
    path = Path(path)
    writer = checkpoint_writer(model_or_state_dict, meta)
    try:
        atomic_write_many([(path, writer)])
    except OSError as exc:
        raise CheckpointError(f"could not write {path}: {exc.strerror or exc}") from exc
    log.info(
        "saved %s (%s, %d classes, %.1f MB)", path, meta.arch, len(meta.classes), path.stat().st_size / 1e6
    )
    return path


def checkpoint_writer(
    model_or_state_dict: nn.Module | Mapping[str, Tensor], meta: CheckpointMeta
) -> Callable[[str], None]:
    """A function writing the .safetensors file for a model and its metadata (checked to fit each other).

    It uses `save_file`, which writes straight to the (temp) file: about 3x faster than building the bytes
    with `save`, and it lets other threads run meanwhile (`save` holds the GIL: a 20-40 ms freeze of the
    window per checkpoint, measured).
    """
    state = (
        model_or_state_dict.state_dict()
        if isinstance(model_or_state_dict, nn.Module)
        else model_or_state_dict
    )
    sd = clean_state_dict(state)
    arch = infer_arch(sd)
    if arch != check_arch(meta.arch):
        raise CheckpointError(f"refusing to save {arch} weights labelled as {meta.arch}")
    if num_classes_of(sd) != len(meta.classes):
        raise CheckpointError(
            f"refusing to save a {num_classes_of(sd)}-class model with {len(meta.classes)} class names"
        )
    # Contiguous private copies on the CPU: safetensors refuses shared or strided storage.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in sd.items()}
    header = {"format": FORMAT, "version": FORMAT_VERSION, **meta.to_dict()}
    metadata = {METADATA_KEY: json.dumps(header, default=_json_default)}
    from safetensors.torch import save_file

    return functools.partial(save_file, tensors, metadata=metadata)


def training_state_path(checkpoint_path: str | Path) -> Path:
    """Where the resume state of a model file lives: "<stem>.state.pt" beside it."""
    p = Path(checkpoint_path)
    return p.with_name(f"{p.stem}.state.pt")


def training_state_bytes(state: dict) -> bytes:
    """torch.save of a resume state, in memory (see save_training_state)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def save_training_state(path: str | Path, state: dict) -> None:
    """Atomically torch.save optimizer/scheduler/epoch/RNG state for --resume.

    Keep to tensors and plain Python values (no numpy arrays, no custom objects): it is read back with
    weights_only=True.
    """
    try:
        atomic_write_bytes(path, training_state_bytes(state))
    except OSError as exc:
        raise CheckpointError(f"could not write {path}: {exc.strerror or exc}") from exc


def load_training_state(path: str | Path) -> dict:
    """Read a training state saved by save_training_state (weights_only: never runs code)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"training state {path} does not exist")
    state = torch_load(path)
    if not isinstance(state, dict):
        raise CheckpointError(f"{path.name} is not a training state (expected a dict)")
    return state


# ------------------------------------------------------------------------------------- class names, loading


def read_classes_file(path: str | Path) -> list[str]:
    """Class names from JSON ({"0": "ants", ...}, {"ants": 0, ...} or a list) or text (one per line)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CheckpointError(f"cannot read the classes file {path}: {exc.strerror or exc}") from exc
    stripped = text.strip()
    if path.suffix.lower() == ".json" or stripped[:1] in ("{", "["):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"classes file {path.name} is not valid JSON: {exc.msg}") from exc
        return _classes_from_json(data, path.name)
    classes = [line.strip() for line in text.splitlines() if line.strip()]
    if not classes:
        raise CheckpointError(f"classes file {path.name} is empty")
    return classes


def _classes_from_json(data: object, name: str) -> list[str]:
    if isinstance(data, list) and data:
        return [str(c) for c in data]
    if isinstance(data, dict) and data:
        if all(str(k).strip().lstrip("-").isdigit() for k in data):
            pairs = {int(k): str(v) for k, v in data.items()}  # {"0": "ants"}
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in data.values()):
            pairs = {int(v): str(k) for k, v in data.items()}  # ImageFolder.class_to_idx
        else:
            raise CheckpointError(f"classes file {name} maps neither index -> name nor name -> index")
        if sorted(pairs) != list(range(len(pairs))) or len(pairs) != len(data):
            raise CheckpointError(f"classes file {name} does not number its classes 0..{len(data) - 1}")
        return [pairs[i] for i in range(len(pairs))]
    raise CheckpointError(f"classes file {name} holds no class names")


def _check_expected(
    name: str, meta: CheckpointMeta, expected_arch: str | None, expected_num_classes: int | None
) -> None:
    if expected_arch is not None and check_arch(expected_arch) != meta.arch:
        raise CheckpointError(
            f"checkpoint {name} is {meta.arch} but {check_arch(expected_arch)} was asked for"
        )
    if expected_num_classes is not None and int(expected_num_classes) != len(meta.classes):
        raise CheckpointError(
            f"checkpoint {name} has {len(meta.classes)} classes, not {expected_num_classes}"
        )


def load_checkpoint(
    path: str | Path,
    classes_file: str | Path | None = None,
    expected_arch: str | None = None,
    expected_num_classes: int | None = None,
) -> tuple[dict[str, Tensor], CheckpointMeta]:
    """Read weights and metadata from our .safetensors or a seed-style .pt/.pth/.pkl state_dict.

    Class names come from `classes_file` if given, else the file's metadata, else a class_indices.json
    beside the checkpoint, else "class_0", "class_1", ... (noted in meta.warnings).
    """
    from resnet_gui.engine.model import imagenet  # (imports this module back: not at import time)

    if imagenet.is_spec(path):  # "imagenet:resnet50": torchvision's weights and categories
        sd, meta = imagenet.load_imagenet(str(path))
        _check_expected(str(path), meta, expected_arch, expected_num_classes)
        return sd, meta
    path = Path(path)
    sd, header = read_state_dict(path)
    check_finite(path.name, sd)
    arch = infer_arch(sd)
    rows = num_classes_of(sd)
    if header is not None:
        if header.get("format") != FORMAT:
            raise CheckpointError(
                f"{path.name} is not a resnet-gui checkpoint (format {header.get('format')!r})"
            )
        check_metadata(header, path.name)  # every field, with training's bounds, named when wrong
        version = int(header.get("version", 0))
        if version > FORMAT_VERSION:
            raise CheckpointError(
                f"{path.name} was written by a newer resnet-gui (format {version}); this one reads up to {FORMAT_VERSION}"
            )
        meta = CheckpointMeta.from_dict(header)
        if meta.arch != arch:
            raise CheckpointError(
                f"{path.name} is damaged: its metadata says {meta.arch} but the weights are {arch}"
            )
    else:
        mtime = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")
        meta = CheckpointMeta(
            arch=arch, classes=[], img_size=224, versions={}, created=mtime, source="state_dict"
        )
        beside = path.parent / CLASS_INDEX_FILE
        if classes_file is None and beside.is_file():
            classes_file = beside
        if classes_file is None:
            meta.classes = [f"class_{i}" for i in range(rows)]
            meta.warnings.append(
                f"no class names found: put {CLASS_INDEX_FILE} beside the checkpoint or pass --classes FILE"
            )
            log.warning("%s: %s", path.name, meta.warnings[-1])
    if classes_file is not None:
        source = Path(classes_file).name
        meta.classes = check_class_names(read_classes_file(classes_file), source, "class names")
        if len(meta.classes) != rows:
            raise CheckpointError(
                f"{source} lists {len(meta.classes)} classes but the checkpoint {path.name} has {rows} outputs"
            )
    elif len(meta.classes) != rows:
        raise CheckpointError(f"{path.name} is damaged: {len(meta.classes)} class names for {rows} outputs")
    _check_expected(path.name, meta, expected_arch, expected_num_classes)
    return sd, meta


def load_model(
    path: str | Path, device: str | torch.device = "cpu", classes_file: str | Path | None = None
) -> tuple[nn.Module, CheckpointMeta]:
    """Rebuild the model of a checkpoint, on `device`, in eval mode."""
    from resnet_gui.engine.device import resolve_device

    sd, meta = load_checkpoint(path, classes_file=classes_file)
    target = resolve_device(device)
    sd = {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}
    with torch.device("meta"):  # skip random init: every tensor comes from the file
        model = build_model(meta.arch, len(meta.classes))
    try:
        model.load_state_dict(sd, strict=True, assign=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{Path(path).name} does not fit {meta.arch}: {state_dict_error(exc)}") from exc
    leftover = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if leftover:
        raise CheckpointError(f"{Path(path).name} lacks weights for {leftover[0]}")
    try:
        model.to(target)
    except (RuntimeError, EngineError) as exc:
        raise CheckpointError(f"cannot move the model to {target}: {first_line(exc)}") from exc
    return model.eval(), meta
