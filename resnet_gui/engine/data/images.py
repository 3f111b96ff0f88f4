"""One image loader for training, browsing and inference.

Every image the app touches goes through `load_image`, so a photo looks the same to the trainer, the
browser and the predictor: EXIF orientation applied, any Pillow mode turned into 8-bit RGB, and files
that are missing, not images, truncated or decompression bombs refused with a short reason.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import stat
from collections.abc import Iterator
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from resnet_gui.engine.errors import ImageLoadError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)

# Decompression-bomb limit, in pixels. Pillow itself refuses images above twice its own limit; we apply
# ours right after reading the header, before any pixel is decoded.
MAX_IMAGE_PIXELS: int = 89_478_485 * 2
# Pillow warns (DecompressionBombWarning, printed on stderr) above its own limit, half of ours: set it to
# ours, so an image we accept decodes silently (Pillow then refuses only above twice ours, as before).
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
#: The longest side may be at most this many times the shortest: a longer image keeps its centre. Every
#: transform resizes the short side, so a 20000 x 1 PNG (140 bytes) became 5 million x 256 pixels (6 GB,
#: 15 s) before the centre crop that only ever uses the middle; 10:1 leaves what any crop sees.
MAX_ASPECT: float = 10.0

# EXIF orientations 5-8 rotate by 90 degrees, so width and height swap.
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}
_EXIF_ORIENTATION = 0x0112
_WHITE = (255, 255, 255)

ImageSource = str | os.PathLike | bytes | bytearray | BinaryIO | Image.Image


def is_image_file(path: str | os.PathLike) -> bool:
    """True if the name has an image extension (case-insensitive) and is not hidden (".x")."""
    name = os.path.basename(os.fspath(path))
    if not name or name.startswith("."):
        return False
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def load_image(source: ImageSource) -> Image.Image:
    """Decode `source` fully into an RGB image with EXIF orientation applied.

    `source` may be a path, the bytes of a file, a binary file object (left open) or a PIL image (not
    modified). Raises ImageLoadError(path, reason) for a missing file, a file that is not an image, a
    truncated or corrupt file, or one larger than MAX_IMAGE_PIXELS.
    """
    if isinstance(source, Image.Image):
        name = getattr(source, "filename", "") or "<image>"
        try:
            source.load()
            return _to_rgb(bound_aspect(_apply_orientation(source)), name)
        except ImageLoadError:
            raise
        except Exception as exc:
            raise ImageLoadError(name, _decode_reason(exc)) from exc

    name, fp, owned = _open_source(source)
    try:
        _check_not_empty(fp, name)
        with _as_load_error(name), Image.open(fp) as img:
            _check_size(img, name)
            # Decode everything now, so a truncated file fails here and not in a worker later. This
            # relies on PIL.ImageFile.LOAD_TRUNCATED_IMAGES staying False (its default): never set it.
            img.load()
            oriented = _apply_orientation(img)
            return _to_rgb(bound_aspect(oriented), name)
    finally:
        if owned:
            fp.close()


def image_info(path: str | os.PathLike) -> dict[str, Any]:
    """Header facts for the browser, without decoding pixels: {width, height, mode, format, bytes}.

    Width and height are as `load_image` will return them, i.e. after EXIF orientation.
    """
    name, fp, owned = _open_source(path)
    try:
        size = os.fstat(fp.fileno()).st_size
        if size == 0:
            raise ImageLoadError(name, "empty file (0 bytes)")
        with _as_load_error(name), Image.open(fp) as img:
            width, height = img.size
            if _orientation(img) in _SWAPPING_ORIENTATIONS:
                width, height = height, width
            return {"width": width, "height": height, "mode": img.mode, "format": img.format, "bytes": size}
    finally:
        if owned:
            fp.close()


def bound_aspect(img: Image.Image, max_aspect: float = MAX_ASPECT) -> Image.Image:
    """`img`, or its centre when one side is more than `max_aspect` times the other (see MAX_ASPECT)."""
    w, h = img.size
    short, long_ = min(w, h), max(w, h)
    if short == 0 or long_ <= max_aspect * short:
        return img
    keep = max(1, math.floor(max_aspect * short))
    if w > h:
        left = (w - keep) // 2
        return img.crop((left, 0, left + keep, h))
    top = (h - keep) // 2
    return img.crop((0, top, w, top + keep))


# --- helpers -------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _as_load_error(name: str) -> Iterator[None]:
    """Turn whatever Pillow raises while reading `name` into an ImageLoadError with a short reason."""
    try:
        yield
    except ImageLoadError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageLoadError(name, "not an image (cannot identify format)") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(name, _too_large_reason(exc)) from exc
    except Exception as exc:
        raise ImageLoadError(name, _decode_reason(exc)) from exc


def _open_source(source: Any) -> tuple[str, BinaryIO, bool]:
    """Return (display name, binary file object, whether we opened it and must close it)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>", io.BytesIO(bytes(source)), True
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            # O_NONBLOCK: opening a FIFO named b.png must not wait forever for a writer; only regular
            # files are images (checked on the open descriptor, so nothing can be swapped in between)
            fp = open(path, "rb", opener=_open_nonblocking)  # noqa: SIM115 - closed by the caller's finally
        except FileNotFoundError as exc:
            raise ImageLoadError(path, "file not found") from exc
        except IsADirectoryError as exc:
            raise ImageLoadError(path, "is a folder, not an image") from exc
        except PermissionError as exc:
            raise ImageLoadError(path, "permission denied") from exc
        except OSError as exc:
            raise ImageLoadError(path, f"cannot open file ({exc.strerror or exc})") from exc
        mode = os.fstat(fp.fileno()).st_mode
        if not stat.S_ISREG(mode):
            fp.close()
            what = "is a folder, not an image" if stat.S_ISDIR(mode) else _special_file(mode)
            raise ImageLoadError(path, what)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fp.fileno(), True)
        return path, fp, True
    if hasattr(source, "read"):
        return str(getattr(source, "name", "<stream>")), source, False
    raise TypeError(f"cannot load an image from {type(source).__name__}")


def _open_nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def _special_file(mode: int) -> str:
    kind = (
        "a FIFO"
        if stat.S_ISFIFO(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a special file"
    )
    return f"not a regular file ({kind})"


def _check_not_empty(fp: BinaryIO, name: str) -> None:
    """A 0-byte file gets its own reason instead of "cannot identify format"."""
    try:
        pos = fp.tell()
        end = fp.seek(0, os.SEEK_END)
        fp.seek(pos)
    except (OSError, ValueError, AttributeError):  # an unseekable stream: let Pillow decide
        return
    if end == pos == 0:
        raise ImageLoadError(name, "empty file (0 bytes)")


def _check_size(img: Image.Image, name: str) -> None:
    pixels = img.size[0] * img.size[1]
    if pixels > MAX_IMAGE_PIXELS:
        raise ImageLoadError(name, _too_large_reason(pixels=pixels))


def _too_large_reason(exc: BaseException | None = None, pixels: int | None = None) -> str:
    if pixels is None and exc is not None:
        # Pillow's message: "Image size (N pixels) exceeds limit of M pixels, ..."
        words = str(exc).replace("(", " ").split()
        numbers = [int(w) for w in words if w.isdigit()]
        pixels = numbers[0] if numbers else None
    if pixels is None:
        return "image too large (possible decompression bomb)"
    return f"image too large ({pixels / 1e6:.0f} megapixels)"


def _decode_reason(exc: BaseException) -> str:
    text = str(exc).strip()
    if "truncated" in text.lower() or isinstance(exc, EOFError):
        return "truncated file"
    if isinstance(exc, MemoryError):
        return "out of memory while decoding"
    detail = text.splitlines()[0][:80] if text else type(exc).__name__
    return f"corrupt image ({detail})"


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(_EXIF_ORIENTATION, 1) or 1)
    except Exception:  # a broken EXIF block must not make an otherwise fine image unreadable
        return 1


def _apply_orientation(img: Image.Image) -> Image.Image:
    if _orientation(img) == 1:
        return img
    try:
        return ImageOps.exif_transpose(img)
    except Exception:
        log.debug("ignoring unusable EXIF orientation in %s", getattr(img, "filename", "<image>"))
        return img


def _to_rgb(img: Image.Image, name: str) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is composited on white."""
    mode = img.mode
    if mode == "RGB" and "transparency" not in img.info:
        return img.copy()  # never hand back an image that the caller or our `with` will close
    if mode in ("RGBA", "LA", "La", "RGBa", "PA") or (
        "transparency" in img.info and mode in ("P", "L", "RGB", "1")
    ):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*_WHITE, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _high_depth_to_rgb(img)
    try:
        return img.convert("RGB")  # L, 1, P, CMYK, YCbCr, HSV, ...
    except (ValueError, OSError) as exc:
        raise ImageLoadError(name, f"unsupported colour mode {mode}") from exc


def _high_depth_to_rgb(img: Image.Image) -> Image.Image:
    """Scale 16-bit / 32-bit / float grayscale into 0-255 instead of clipping it."""
    arr = np.asarray(img)
    if img.mode.startswith("I;16"):
        scaled = arr.astype(np.float32) / 257.0  # full 16-bit range onto 8 bits
    else:
        data = arr.astype(np.float64)
        finite = data[np.isfinite(data)]
        lo = float(finite.min()) if finite.size else 0.0
        hi = float(finite.max()) if finite.size else 0.0
        if img.mode == "F" and lo >= 0.0 and hi <= 1.0:
            scaled = data * 255.0  # float image in [0, 1]
        elif img.mode == "I" and lo >= 0 and hi <= 255:
            scaled = data  # already 8-bit values
        elif img.mode == "I" and lo >= 0 and hi <= 65535:
            scaled = data / 257.0  # 16-bit data stored in a 32-bit container
        elif hi > lo:
            scaled = (data - lo) * (255.0 / (hi - lo))  # anything else: stretch its range
        else:
            scaled = np.zeros_like(data)
        scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    gray = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")


def load_image_reduced(
    source: str | os.PathLike | bytes | bytearray | BinaryIO, min_side: int
) -> Image.Image:
    """`load_image`, but a JPEG much larger than needed is decoded at 1/2, 1/4 or 1/8 scale by the decoder
    (Pillow `draft()`: several times less work), never below `min_side` on its short side. Other formats,
    and JPEGs already small, come back exactly as `load_image` returns them."""
    name, fp, owned = _open_source(source)
    try:
        _check_not_empty(fp, name)
        with _as_load_error(name), Image.open(fp) as img:
            _check_size(img, name)
            w, h = img.size
            scale = min_side / max(1, min(w, h))
            if img.format in ("JPEG", "MPO") and scale <= 0.5:  # MPO: camera JPEGs with a preview
                img.draft(img.mode, (max(1, math.ceil(w * scale)), max(1, math.ceil(h * scale))))
            img.load()  # as in load_image: decode now, so a truncated file fails here
            return _to_rgb(bound_aspect(_apply_orientation(img)), name)
    finally:
        if owned:
            fp.close()
