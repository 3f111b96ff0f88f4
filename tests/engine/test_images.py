"""The one image loader: orientation, colour modes, and refusing bad files with a reason."""

from __future__ import annotations

import gc
import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from resnet_gui.engine.data import images
from resnet_gui.engine.data.images import IMAGE_EXTENSIONS, image_info, is_image_file, load_image
from resnet_gui.engine.errors import ImageLoadError


def _png_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", **kw)
    return buf.getvalue()


def _noise(w: int = 48, h: int = 32, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def _reason(source) -> str:
    with pytest.raises(ImageLoadError) as info:
        load_image(source)
    return info.value.reason


def test_extensions_and_is_image_file():
    assert {".jpg", ".jpeg", ".png", ".webp", ".tif"} <= IMAGE_EXTENSIONS
    assert all(e == e.lower() and e.startswith(".") for e in IMAGE_EXTENSIONS)
    assert is_image_file("a/b/cat.JPG")
    assert is_image_file(Path("x.Png"))
    assert not is_image_file("notes.txt")
    assert not is_image_file(".hidden.jpg")
    assert not is_image_file("a/.DS_Store")
    assert not is_image_file("jpg")


def test_exif_orientation_is_applied(tmp_path: Path):
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 10, 20))  # blue strip on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.jpg"
    img.save(path, "JPEG", exif=exif, quality=95)

    out = load_image(path)
    assert out.mode == "RGB"
    assert out.size == (20, 40)
    top = np.asarray(out)[2, 10]
    assert top[2] > 200 and top[0] < 60  # the left strip is now on top
    assert image_info(path)["width"] == 20 and image_info(path)["height"] == 40


@pytest.mark.parametrize("fmt", ["TIFF", "JPEG"])
def test_cmyk_converts_to_rgb(fmt: str):
    buf = io.BytesIO()
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(buf, fmt)  # pure red in CMYK
    pixel = np.asarray(load_image(buf.getvalue()))[4, 4].astype(int)
    assert np.abs(pixel - [255, 0, 0]).max() <= 3


def test_16bit_grayscale_is_scaled_not_clipped():
    arr = np.array([[0, 1000, 32768, 65535]], dtype=np.uint16)
    out = np.asarray(load_image(_png_bytes(Image.fromarray(arr))))
    assert out.shape == (1, 4, 3)
    assert out[0, :, 0].tolist() == [0, 4, 128, 255]


def test_32bit_and_float_grayscale():
    ints = Image.fromarray(np.array([[0, 65535]], dtype=np.int32), "I")
    assert np.asarray(load_image(ints))[0, :, 0].tolist() == [0, 255]
    floats = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32), "F")
    assert np.asarray(load_image(floats))[0, :, 0].tolist() == [0, 128, 255]


def test_palette_with_transparency_is_composited_on_white():
    img = Image.new("P", (4, 4), 0)
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    img.putpixel((1, 0), 1)
    out = np.asarray(load_image(_png_bytes(img, transparency=0)))
    assert out[0, 0].tolist() == [255, 255, 255]  # transparent red -> white
    assert out[0, 1].tolist() == [0, 0, 255]


def test_rgba_and_la_composited_on_white():
    half_black = Image.new("RGBA", (2, 2), (0, 0, 0, 128))
    assert np.asarray(load_image(_png_bytes(half_black)))[0, 0].tolist() == [127, 127, 127]
    clear = Image.new("LA", (2, 2), (0, 0))
    assert np.asarray(load_image(_png_bytes(clear)))[0, 0].tolist() == [255, 255, 255]


def test_bilevel_and_grayscale():
    assert np.asarray(load_image(_png_bytes(Image.new("1", (2, 2), 1))))[0, 0].tolist() == [255] * 3
    assert np.asarray(load_image(_png_bytes(Image.new("L", (2, 2), 77))))[0, 0].tolist() == [77] * 3


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file_refused(tmp_path: Path, fmt: str):
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    buf = io.BytesIO()
    _noise().save(buf, fmt)
    data = buf.getvalue()
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: int(len(data) * 0.7)])
    assert "truncated" in _reason(path)


def test_decompression_bomb_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (100, 100)).save(path)
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 5_000)
    assert _reason(path).startswith("image too large")


def test_pillow_own_bomb_check_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (100, 100)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)  # 10k pixels > 2x the limit: Pillow raises
    assert _reason(path).startswith("image too large")


def test_not_an_image_and_missing(tmp_path: Path):
    text = tmp_path / "fake.jpg"
    text.write_text("hello, I am not a JPEG")
    assert _reason(text) == "not an image (cannot identify format)"
    assert _reason(b"\x00" * 64) == "not an image (cannot identify format)"
    with pytest.raises(ImageLoadError) as info:
        load_image(tmp_path / "missing.png")
    assert info.value.reason == "file not found"
    assert info.value.path.endswith("missing.png")
    assert "is a folder" in _reason(tmp_path)


def test_accepts_bytes_file_objects_and_pil_images(tmp_path: Path):
    src = _noise()
    data = _png_bytes(src)
    path = tmp_path / "n.png"
    path.write_bytes(data)
    expected = np.asarray(src)
    for source in (str(path), path, data, io.BytesIO(data)):
        assert np.array_equal(np.asarray(load_image(source)), expected)
    with path.open("rb") as f:
        assert np.array_equal(np.asarray(load_image(f)), expected)
        assert not f.closed  # the caller's file stays open
    rgba = src.convert("RGBA")
    out = load_image(rgba)
    assert out.mode == "RGB" and rgba.mode == "RGBA"  # caller's image untouched
    assert out is not src and load_image(src) is not src


def test_file_handles_are_closed(tmp_path: Path):
    path = tmp_path / "n.png"
    _noise().save(path)
    with _NoResourceWarning():
        for _ in range(3):
            load_image(path)
            image_info(path)
        with pytest.raises(ImageLoadError):
            load_image(tmp_path / "missing.png")


class _NoResourceWarning:
    """Fail if a ResourceWarning (an unclosed file) is emitted inside the block."""

    def __enter__(self):
        self._cm = warnings.catch_warnings(record=True)
        self._log = self._cm.__enter__()
        warnings.simplefilter("always", ResourceWarning)
        return self

    def __exit__(self, *exc):
        gc.collect()
        self._cm.__exit__(*exc)
        leaks = [w for w in self._log if issubclass(w.category, ResourceWarning)]
        assert not leaks, leaks


def test_image_info_reads_header(tmp_path: Path):
    path = tmp_path / "n.png"
    _noise(48, 32).save(path)
    info = image_info(path)
    assert info == {"width": 48, "height": 32, "mode": "RGB", "format": "PNG", "bytes": path.stat().st_size}
    with pytest.raises(ImageLoadError):
        image_info(tmp_path / "missing.png")
