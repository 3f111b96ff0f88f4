"""Issue 6, bad images: each is classified as the same picture would be if it is a real image, else it gets
one clear error (ImageLoadError / Prediction.error); never a crash. Every file is generated here."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from resnet_gui.engine.data.dataset import ImageDataset
from resnet_gui.engine.data.images import is_image_file, load_image
from resnet_gui.engine.data.scan import Sample, scan_dataset
from resnet_gui.engine.data.transforms import build_eval_transform
from resnet_gui.engine.errors import ImageLoadError
from resnet_gui.engine.infer.predict import Predictor, expand_inputs


@pytest.fixture(scope="module")
def predictor(checkpoint) -> Predictor:
    return Predictor(checkpoint, device="cpu", warmup=False)


@pytest.fixture(scope="module")
def original(demo_dir) -> Image.Image:
    """A real demo image (RGB, 32 px) that the variants below re-encode."""
    return load_image(demo_dir / "circle" / "circle_0000.png")


def _probs(predictor: Predictor, source) -> list[float]:
    p = predictor.predict_one(source, topk=len(predictor.classes))
    assert p.error is None, p.error
    return [prob for _, prob in sorted(p.topk)]


def _error(source) -> str:
    with pytest.raises(ImageLoadError) as info:
        load_image(source)
    return info.value.reason


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# --- files that are not images: one clear error -----------------------------------------------------


def test_zero_byte_file(tmp_path: Path, predictor: Predictor):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    assert _error(p) == "empty file (0 bytes)"
    assert predictor.predict_one(p).error == "empty file (0 bytes)"


def test_text_renamed_jpg(tmp_path: Path, predictor: Predictor):
    p = tmp_path / "notes.jpg"
    p.write_text("this is not a picture\n")
    assert "not an image" in _error(p)
    assert "not an image" in predictor.predict_one(p).error


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_jpeg_and_png(tmp_path: Path, original: Image.Image, fmt: str):
    buf = io.BytesIO()
    original.resize((256, 256)).save(buf, fmt)
    data = buf.getvalue()
    p = tmp_path / f"cut.{fmt.lower()}"
    p.write_bytes(data[: len(data) * 2 // 3])
    reason = _error(p)
    assert "truncated" in reason or "corrupt" in reason


def test_decompression_bomb_png_30000_square_refused_fast(tmp_path: Path, predictor: Predictor):
    """A 100-byte PNG that declares 30000 x 30000 (900 MP): refused from the header, nothing decoded."""
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + _png_chunk(b"IEND", b"")
    )
    p = tmp_path / "bomb.png"
    p.write_bytes(data)
    assert "too large" in _error(p)
    assert "too large" in predictor.predict_one(p).error


def test_folder_named_like_an_image(tmp_path: Path, predictor: Predictor):
    folder = tmp_path / "x.jpg"
    folder.mkdir()
    assert _error(folder) == "is a folder, not an image"
    assert predictor.predict_one(folder).error == "is a folder, not an image"


def test_dangling_symlink(tmp_path: Path, predictor: Predictor):
    link = tmp_path / "gone.png"
    link.symlink_to(tmp_path / "does-not-exist.png")
    assert _error(link) == "file not found"
    assert predictor.predict_one(link).error == "file not found"


# --- real images in awkward encodings: loaded right and classified like the plain picture ---------------


@pytest.mark.parametrize(
    "name, fmt",
    [
        ("upper.PNG", "PNG"),
        ("UPPER.JPEG", "PNG"),  # PNG content with a JPEG name
        ("really-jpeg.png", "JPEG"),  # JPEG content with a PNG name
        ("café-naïve-日本.png", "PNG"),
        ("lossless.webp", "WEBP"),
    ],
)
def test_misnamed_renamed_and_non_ascii_files_classify_like_the_original(
    tmp_path: Path, predictor: Predictor, original: Image.Image, name: str, fmt: str
):
    p = tmp_path / name
    kwargs = {"lossless": True} if fmt == "WEBP" else {"quality": 100} if fmt == "JPEG" else {}
    original.save(p, fmt, **kwargs)
    assert is_image_file(p)
    loaded = load_image(p)
    assert loaded.mode == "RGB" and loaded.size == original.size
    if fmt == "JPEG":  # lossy: same answer, near-identical pixels
        assert np.abs(np.asarray(loaded, np.int16) - np.asarray(original, np.int16)).mean() < 3
        assert predictor.predict_one(p).label == predictor.predict_one(original).label
    else:
        assert np.array_equal(np.asarray(loaded), np.asarray(original))
        assert _probs(predictor, p) == pytest.approx(_probs(predictor, original), abs=1e-6)


def test_uppercase_and_non_ascii_names_are_found_by_scan_and_expand(tmp_path: Path, original: Image.Image):
    for cls, name in (("a", "ONE.JPG"), ("a", "zwei-ü.Png"), ("b", "三.PNG"), ("b", "four.TIFF")):
        (tmp_path / cls).mkdir(exist_ok=True)
        original.save(tmp_path / cls / name, "PNG" if "png" in name.lower() else None)
    index = scan_dataset(tmp_path, val_split=0)
    assert sorted(Path(s.path).name for s in index.train) == sorted(
        ["ONE.JPG", "zwei-ü.Png", "三.PNG", "four.TIFF"]
    )
    assert len(expand_inputs([tmp_path])) == 4


def test_cmyk_jpeg(tmp_path: Path):
    p = tmp_path / "cmyk.jpg"
    Image.new("RGB", (16, 16), (200, 30, 30)).convert("CMYK").save(p, "JPEG", quality=95)
    assert Image.open(p).mode == "CMYK"
    img = load_image(p)
    assert img.mode == "RGB"
    r, g, b = np.asarray(img).reshape(-1, 3).mean(0)
    assert r > 150 and g < 80 and b < 80  # still red, not inverted


def test_16bit_grayscale_png_is_not_all_white(tmp_path: Path, predictor: Predictor, original: Image.Image):
    gray = original.convert("L")
    deep = Image.fromarray(np.asarray(gray).astype(np.uint16) * 257)  # same picture at 16 bits
    p = tmp_path / "deep.png"
    deep.save(p)
    assert Image.open(p).mode.startswith("I")
    img = load_image(p)
    assert np.array_equal(np.asarray(img)[..., 0], np.asarray(gray))  # not clipped to 255
    assert np.asarray(img).min() < 200
    assert _probs(predictor, p) == pytest.approx(_probs(predictor, gray), abs=1e-6)


def test_palette_png_with_transparency(tmp_path: Path):
    img = Image.new("P", (8, 8), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * (254 * 3))
    img.paste(1, (4, 0, 8, 8))
    p = tmp_path / "pal.png"
    img.save(p, transparency=0)
    out = np.asarray(load_image(p))
    assert tuple(out[0, 0]) == (255, 255, 255)  # transparent black -> white background
    assert tuple(out[0, 7]) == (255, 0, 0)


def test_rgba_with_opaque_and_clear_pixels(tmp_path: Path, predictor: Predictor, original: Image.Image):
    opaque = original.convert("RGBA")
    p = tmp_path / "opaque.png"
    opaque.save(p)
    assert _probs(predictor, p) == pytest.approx(_probs(predictor, original), abs=1e-6)
    clear = Image.new("RGBA", (4, 4), (10, 200, 10, 0))
    assert np.asarray(load_image(clear)).min() == 255


def test_animated_gif_uses_the_first_frame(tmp_path: Path):
    frames = [Image.new("RGB", (10, 10), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    p = tmp_path / "anim.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=50, loop=0)
    assert Image.open(p).n_frames == 3
    assert tuple(np.asarray(load_image(p))[5, 5]) == (255, 0, 0)


def _exif_rotated(original: Image.Image) -> tuple[Image.Image, bytes]:
    """Pixels stored rotated 90 degrees, with orientation 6 saying "rotate back to display"."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return original.transpose(Image.Transpose.ROTATE_90), exif.tobytes()


def test_exif_rotated_phone_photo_same_in_training_and_classify(
    tmp_path: Path, predictor: Predictor, original: Image.Image
):
    wide = original.resize((48, 32))  # not square, so a missed rotation changes the shape
    stored, exif = _exif_rotated(wide)
    png, jpg = tmp_path / "phone.png", tmp_path / "phone.jpg"
    stored.save(png, exif=exif)
    stored.save(jpg, "JPEG", exif=exif, quality=95)
    assert Image.open(png).size == (32, 48)
    assert np.array_equal(np.asarray(load_image(png)), np.asarray(wide))
    assert load_image(jpg).size == (48, 32)
    # Training (ImageDataset with the eval transform) and Classify (Predictor) see the same tensor.
    transform = build_eval_transform(predictor.meta.img_size, predictor.meta.mean, predictor.meta.std)
    for p in (png, jpg):
        train_x = ImageDataset([Sample(str(p), 0)], transform)[0][0]
        assert torch.equal(train_x, predictor.transform(load_image(p)))
    assert _probs(predictor, png) == pytest.approx(_probs(predictor, wide), abs=1e-6)


@pytest.mark.parametrize("size", [(1, 1), (4000, 10), (10, 4000)])
def test_tiny_and_extreme_aspect_images_classify(tmp_path: Path, predictor: Predictor, size):
    p = tmp_path / f"odd-{size[0]}x{size[1]}.png"
    Image.new("RGB", size, (120, 60, 200)).save(p)
    pred = predictor.predict_one(p)
    assert pred.error is None and len(pred.topk) > 0
    assert sum(prob for _, prob in predictor.predict_one(p, topk=99).topk) == pytest.approx(1.0, abs=1e-4)


def test_hidden_and_junk_files_are_never_samples(tmp_path: Path, original: Image.Image):
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        original.save(tmp_path / cls / "real.png")
        (tmp_path / cls / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + os.urandom(64))
        (tmp_path / cls / "Thumbs.db").write_bytes(os.urandom(64))
        (tmp_path / cls / "._real.png").write_bytes(os.urandom(64))  # AppleDouble resource fork
        (tmp_path / cls / "__MACOSX").mkdir()
        (tmp_path / cls / "__MACOSX" / "._real.png").write_bytes(os.urandom(64))
    (tmp_path / ".DS_Store").write_bytes(os.urandom(32))
    macosx = tmp_path / "__MACOSX" / "a"
    macosx.mkdir(parents=True)
    (macosx / "._real.png").write_bytes(os.urandom(64))
    (macosx / "junk.png").write_bytes(os.urandom(64))  # even a visible file in __MACOSX is junk
    index = scan_dataset(tmp_path, val_split=0)
    assert index.classes == ["a", "b"]
    assert sorted(Path(s.path).relative_to(tmp_path).as_posix() for s in index.train) == [
        "a/real.png",
        "b/real.png",
    ]
    assert not any("__MACOSX" in p for p in index.problems)
    assert not is_image_file(".DS_Store") and not is_image_file("Thumbs.db") and not is_image_file("._x.png")
    assert [p.relative_to(tmp_path).as_posix() for p in expand_inputs([tmp_path])] == [
        "a/real.png",
        "b/real.png",
    ]
