"""Reading weights files of any kind, never running code; recognising a ResNet from its weights.

Our `.safetensors` files (weights + JSON metadata in the header), other safetensors files, and seed-style
`.pt/.pth/.pkl` files from plain torchvision scripts (a state_dict or `{'model_state_dict': ...}`), read
with `torch.load(weights_only=True)` only. The kind of file is sniffed from its first bytes, not its name.
"""

from __future__ import annotations

import json
import pickle
import re
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from resnet_gui.engine.config import ARCHS
from resnet_gui.engine.errors import CheckpointError

__all__ = [
    "METADATA_KEY",
    "check_finite",
    "clean_state_dict",
    "first_line",
    "infer_arch",
    "num_classes_of",
    "read_metadata",
    "read_state_dict",
    "state_dict_error",
    "torch_load",
]

#: The safetensors `__metadata__` entry holding our JSON metadata.
METADATA_KEY = "resnet_gui"
#: A header longer than this is not a safetensors header (ours are a few kB).
_MAX_HEADER = 100_000_000
#: What a torch zip file may declare as its uncompressed contents, in all (ResNet-152 with an Adam state
#: is ~0.7 GB) and per compressed entry relative to its stored size (torch stores tensors uncompressed: a
#: deflated entry that expands 1000x is a zip bomb).
MAX_UNCOMPRESSED_BYTES = 4 * 2**30
MAX_COMPRESSION_RATIO = 200

# (bottleneck?, blocks per stage) -> arch, as in the ResNet paper's table 1.
_LAYOUTS: dict[tuple[bool, tuple[int, ...]], str] = {
    (False, (2, 2, 2, 2)): "resnet18",
    (False, (3, 4, 6, 3)): "resnet34",
    (True, (3, 4, 6, 3)): "resnet50",
    (True, (3, 4, 23, 3)): "resnet101",
    (True, (3, 8, 36, 3)): "resnet152",
}
_PREFIXES = ("module.", "_orig_mod.")  # DataParallel/DDP and torch.compile wrappers
_BLOCK_KEY = re.compile(r"^layer([1-4])\.(\d+)\.")


# ------------------------------------------------------------------------------------ state-dict helpers


def clean_state_dict(state_dict: Mapping[str, object]) -> dict[str, Tensor]:
    """Tensors only, with DataParallel ("module.") and torch.compile ("_orig_mod.") prefixes removed."""
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        if not isinstance(value, Tensor):
            continue
        name = str(key)
        changed = True
        while changed:
            changed = False
            for prefix in _PREFIXES:
                if name.startswith(prefix):
                    name = name[len(prefix) :]
                    changed = True
        out[name] = value
    return out


def infer_arch(state_dict: Mapping[str, Tensor]) -> str:
    """Recognise resnet18..152 from the weight names and shapes; CheckpointError for anything else."""
    sd = clean_state_dict(state_dict)
    if not all(k in sd for k in ("conv1.weight", "fc.weight", "layer1.0.conv1.weight")):
        sample = ", ".join(list(sd)[:3]) or "no tensors"
        raise CheckpointError(
            f"these weights are not a torchvision ResNet (no conv1/layer1/fc weights; found {sample})"
        )
    blocks: dict[int, set[int]] = {1: set(), 2: set(), 3: set(), 4: set()}
    for key in sd:
        match = _BLOCK_KEY.match(key)
        if match:
            blocks[int(match.group(1))].add(int(match.group(2)))
    counts = tuple(len(blocks[i]) for i in (1, 2, 3, 4))
    bottleneck = "layer1.0.conv3.weight" in sd
    arch = _LAYOUTS.get((bottleneck, counts))
    kind = "bottleneck" if bottleneck else "basic"
    if arch is None:
        raise CheckpointError(
            f"these weights are a ResNet with {list(counts)} {kind} blocks per stage, "
            f"which is none of {', '.join(ARCHS)}"
        )
    conv1 = sd["layer1.0.conv1.weight"]
    conv2 = sd["layer1.0.conv2.weight"]
    if conv1.shape[0] != 64 or conv2.shape[0] != conv2.shape[1]:
        raise CheckpointError(
            f"these weights have the layout of {arch} but different widths or grouped convolutions "
            "(a wide ResNet or ResNeXt?), which are not supported"
        )
    return arch


def num_classes_of(state_dict: Mapping[str, Tensor]) -> int:
    """Number of output classes: the rows of fc.weight."""
    sd = clean_state_dict(state_dict)
    if "fc.weight" not in sd:
        raise CheckpointError("these weights have no classifier layer (fc.weight)")
    return int(sd["fc.weight"].shape[0])


# ----------------------------------------------------------------------------------------- file kinds


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (library errors can run to pages), or its type."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def state_dict_error(exc: BaseException, limit: int = 300) -> str:
    """What `load_state_dict`'s RuntimeError names: its first line that says which tensor ("size
    mismatch for conv1.weight: ... [64, 1, 7, 7] ..., the shape in current model is [64, 3, 7, 7]"),
    not its heading "Error(s) in loading state_dict for ResNet:"."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    named = [ln for ln in lines if not ln.lower().startswith("error(s) in loading")]
    text = (named or lines or [type(exc).__name__])[0]
    text = re.sub(r"torch\.Size\((\[[^\]]*\])\)", r"\1", text).rstrip(".")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(path: Path) -> str:
    """'safetensors', 'torch' or 'unknown', from the first bytes rather than the file name."""
    with open(path, "rb") as f:
        head = f.read(9)
    # safetensors first: its 8-byte header length may itself start with 0x80, a pickle's first byte
    # (1 file in 256, depending on the metadata's length)
    if len(head) == 9 and head[8:9] == b"{":
        (size,) = struct.unpack("<Q", head[:8])
        if size < _MAX_HEADER:
            return "safetensors"
    if head[:4] == b"PK\x03\x04" or head[:1] == b"\x80":  # torch zip / legacy pickle
        return "torch"
    return "unknown"


def _truncated(path: Path, size: int, expected: int) -> CheckpointError:
    return CheckpointError(
        f"{path.name} is truncated ({size:,} of {expected:,} bytes): the copy or download did not finish"
    )


# ------------------------------------------------------------------------------------ safetensors files


def _safetensors_header(path: Path, size: int) -> tuple[int, dict | None]:
    """(declared length, parsed JSON header or None when it is not a JSON object) of a safetensors file.

    Reads the header only, never the weights. CheckpointError when the file ends inside its header.
    """
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        raw = f.read(length)
    if len(raw) < length:
        raise _truncated(path, size, 8 + length)
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):
        return length, None  # a damaged header: the safetensors parser names it
    return length, header if isinstance(header, dict) else None


def _our_metadata(header: Mapping, name: str) -> dict | None:
    """Our metadata from a parsed safetensors header; None when the file carries none."""
    entries = header.get("__metadata__")
    text = entries.get(METADATA_KEY) if isinstance(entries, Mapping) else None
    if text is None:
        return None
    try:
        data = json.loads(text)
    except (TypeError, ValueError, RecursionError) as exc:
        raise CheckpointError(f"{name} is not a valid checkpoint: metadata is not JSON") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{name} is not a valid checkpoint: metadata is not a JSON object")
    return data


def read_metadata(path: str | Path) -> dict | None:
    """Our JSON metadata from a .safetensors header, without reading the weights; None if it has none.

    CheckpointError when the file cannot be read or is not a safetensors file.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if _kind(path) != "safetensors":
            raise CheckpointError(f"{path.name} is not a .safetensors file")
        _, header = _safetensors_header(path, size)
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if header is None:
        raise CheckpointError(f"{path.name} is not a valid checkpoint: the safetensors header is damaged")
    return _our_metadata(header, path.name)


def _check_tensors_complete(path: Path, size: int, header_len: int, header: Mapping) -> None:
    """Name a file cut short as such, before the parser reports it cryptically."""
    try:
        ends = [
            int(v["data_offsets"][1])
            for k, v in header.items()
            if k != "__metadata__" and isinstance(v, dict)
        ]
    except (ValueError, TypeError, KeyError, IndexError):
        return  # a damaged header: the parser names it
    expected = 8 + header_len + max(ends, default=0)
    if size < expected:
        raise _truncated(path, size, expected)


def _read_safetensors(path: Path) -> dict[str, Tensor]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{path.name} is not a valid checkpoint: {first_line(exc)}") from exc


# ------------------------------------------------------------------------------------------ torch files


#: What the weights-only unpickler says about a pickle that names code or Python objects (as opposed to
#: one that is merely damaged: "Unsupported operand 69", a bad persistent id, ...).
_CODE_MARKERS = ("GLOBAL", "Can only build", "Can only create new object", "add_safe_globals")


def _check_zip_sizes(path: Path) -> None:
    """Refuse a torch zip file whose entries declare more than torch could ever need to read, before
    `torch.load` allocates it (a 3.9 MB deflated file drove it to 10 GB): the declared uncompressed sizes
    in the central directory, in all and per compressed entry."""
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return  # not a readable zip: torch.load names the damage
    total = sum(max(0, i.file_size) for i in infos)
    if total > MAX_UNCOMPRESSED_BYTES:
        raise CheckpointError(
            f"{path.name} declares {total / 2**30:,.1f} GB of contents (at most "
            f"{MAX_UNCOMPRESSED_BYTES / 2**30:.0f} GB are read): refused, it is no model checkpoint"
        )
    for i in infos:
        if i.compress_type != zipfile.ZIP_STORED and i.file_size > MAX_COMPRESSION_RATIO * max(
            i.compress_size, 1024
        ):
            raise CheckpointError(
                f"{path.name} holds an entry ({i.filename}) compressed {i.file_size / max(i.compress_size, 1):,.0f}"
                f" times ({i.file_size / 2**20:,.0f} MB unpacked): refused as a zip bomb"
            )


def _pickle_parses(path: Path, limit: int = 64 * 2**20) -> bool:
    """Whether the file's (first) pickle is a well-formed opcode stream (`pickletools` only parses it,
    never runs it): a valid pickle the weights-only unpickler refused holds objects besides tensors; one
    that does not parse is merely damaged."""
    import pickletools

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                entry = next((i for i in z.infolist() if i.filename.endswith("data.pkl")), None)
                if entry is None or entry.file_size > limit:
                    return False
                data = z.read(entry)
        else:
            with open(path, "rb") as f:
                data = f.read(limit)
        for _ in pickletools.genops(data):
            pass
    except Exception:  # any parse error: damaged bytes
        return False
    return True


def torch_load(path: Path) -> object:
    """`torch.load(weights_only=True)` on the CPU; code or Python objects in the pickle are refused, and
    so is a zip file that declares more contents than any checkpoint (`_check_zip_sizes`)."""
    _check_zip_sizes(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if any(marker in text for marker in _CODE_MARKERS) or _pickle_parses(path):
            raise CheckpointError(
                f"{path.name} contains pickled code or Python objects besides tensors and was refused "
                "(only plain weights are loaded, never code)"
            ) from exc
        detail = next((ln.strip() for ln in text.splitlines() if "Unsupported operand" in ln), "")
        raise CheckpointError(
            f"{path.name} is damaged: its pickle cannot be read{f' ({detail})' if detail else ''}"
        ) from exc
    except (RuntimeError, EOFError, ValueError, OSError, AttributeError, ImportError) as exc:
        raise CheckpointError(f"{path.name} is not a valid checkpoint: {first_line(exc)}") from exc


def _check_zip_complete(path: Path, size: int) -> None:
    """A torch zip file without its end-of-central-directory record was cut short."""
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":
            return  # a legacy pickle: nothing to check
        f.seek(max(0, size - 65_536 - 22))
        if b"PK\x05\x06" not in f.read():
            raise CheckpointError(
                f"{path.name} is truncated ({size:,} bytes, its end is missing): "
                "the copy or download did not finish"
            )


def _unwrap(obj: object, name: str) -> Mapping:
    if isinstance(obj, Mapping):
        for key in ("model_state_dict", "state_dict", "model"):
            inner = obj.get(key)
            if isinstance(inner, Mapping) and any(isinstance(v, Tensor) for v in inner.values()):
                return inner
        if obj and any(isinstance(v, Tensor) for v in obj.values()):
            return obj
    raise CheckpointError(
        f"{name} holds no model weights (expected a state_dict or {{'model_state_dict': ...}})"
    )


# ---------------------------------------------------------------------------------------------- any file


def check_finite(name: str, sd: Mapping[str, Tensor]) -> None:
    """Refuse weights with NaN or infinity: such a model answers garbage for every image."""
    for key, t in sd.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{name} holds NaN or infinite weights (in {key}): the training diverged")


def read_state_dict(path: str | Path) -> tuple[dict[str, Tensor], dict | None]:
    """Weights of any supported file, plus our parsed header metadata (None for foreign files)."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a folder, not a file")
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} is not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{path.name} is empty (0 bytes): the copy or download did not finish")
    kind = _kind(path)
    if kind == "safetensors":
        header_len, header = _safetensors_header(path, size)
        if header is not None:
            _check_tensors_complete(path, size, header_len, header)
        tensors = _read_safetensors(path)
        return clean_state_dict(tensors), _our_metadata(header or {}, path.name)
    if kind == "torch":
        _check_zip_complete(path, size)
        return clean_state_dict(_unwrap(torch_load(path), path.name)), None
    if path.suffix.lower() == ".safetensors":
        raise CheckpointError(f"{path.name} is not a valid checkpoint: the safetensors header is damaged")
    # not a zip, pickle or safetensors file: an image, a text file, ...
    raise CheckpointError(
        f"{path.name} is not a model checkpoint (expected a .safetensors file or a PyTorch .pt/.pth state_dict)"
    )
