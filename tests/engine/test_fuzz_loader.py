"""Issue 6, fuzzing: random and mutated image bytes into the one image loader. The only outcomes allowed are
an RGB image or ImageLoadError; each example is time-bounded and the whole run memory-bounded."""

from __future__ import annotations

import io
import resource
import warnings

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from PIL import Image

from resnet_gui.engine.data.images import image_info, load_image
from resnet_gui.engine.errors import ImageLoadError


def _seeds() -> list[bytes]:
    """Small valid files in every format the loader accepts, plus a few awkward modes."""
    base = Image.new("RGB", (24, 16), (30, 120, 200))
    base.paste((250, 10, 10), (4, 4, 12, 12))
    out = []
    for fmt, img, kwargs in [
        ("PNG", base, {}),
        ("JPEG", base, {"quality": 80}),
        ("JPEG", base.convert("CMYK"), {}),
        ("GIF", base.convert("P"), {}),
        ("BMP", base, {}),
        ("WEBP", base, {"lossless": True}),
        ("TIFF", base, {}),
        ("PPM", base, {}),
        ("PNG", base.convert("RGBA"), {}),
        ("PNG", base.convert("I;16"), {}),
        ("PNG", base.convert("P"), {"transparency": 0}),
    ]:
        buf = io.BytesIO()
        img.save(buf, fmt, **kwargs)
        out.append(buf.getvalue())
    return out


SEEDS = _seeds()


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "overwrite-int"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 16))]
        else:  # big numbers in headers: sizes, lengths, offsets
            data[pos : pos + 4] = draw(
                st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff"])
            )
    return bytes(data)


def _only_image_or_load_error(data: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about odd metadata; warnings are not outcomes
        try:
            img = load_image(data)
        except ImageLoadError as exc:
            assert exc.reason
            return
    assert isinstance(img, Image.Image) and img.mode == "RGB"
    assert img.size[0] >= 1 and img.size[1] >= 1


FUZZ = settings(
    max_examples=500,
    deadline=2000,  # ms per example
    database=None,  # no .hypothesis folder in the repository
    suppress_health_check=[HealthCheck.too_slow],
)


@seed(6)
@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes):
    _only_image_or_load_error(data)


@seed(6)
@FUZZ
@given(mutated())
def test_mutated_real_images(data: bytes):
    _only_image_or_load_error(data)


@seed(7)
@settings(max_examples=60, deadline=2000, database=None)
@given(mutated())
def test_image_info_on_mutated_files(tmp_path_factory, data: bytes):
    path = tmp_path_factory.mktemp("fuzz") / "f.png"
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            info = image_info(path)
        except ImageLoadError:
            return
    assert info["width"] >= 0 and info["height"] >= 0


def test_fuzzing_stays_within_memory():
    """Peak RSS of this process grows by less than 300 MB over a fuzz batch (a bomb would take GBs)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    test_mutated_real_images()
    test_random_bytes()
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 300, f"peak memory grew by {grown_mb:.0f} MB"


@pytest.mark.slow
@seed(8)
@settings(max_examples=20000, deadline=5000, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_real_images_long(data: bytes):
    _only_image_or_load_error(data)
