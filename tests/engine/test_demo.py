"""The synthetic demo dataset: layout, determinism, speed, and the cached default copy."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from resnet_gui.engine.data import demo
from resnet_gui.engine.data.demo import DEMO_CLASSES, default_demo_dir, make_demo_dataset
from resnet_gui.engine.data.scan import scan_dataset
from resnet_gui.engine.errors import EngineError


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def test_layout_and_scan(tmp_path: Path):
    out = make_demo_dataset(tmp_path / "d", per_class=5, size=32, seed=0)
    assert out == tmp_path / "d"
    assert len(DEMO_CLASSES) >= 4
    for name in DEMO_CLASSES:
        files = sorted(p.name for p in (out / name).iterdir())
        assert files == [f"{name}_{i:04d}.png" for i in range(5)]
    assert "circle" in (out / "README.txt").read_text()
    with Image.open(out / DEMO_CLASSES[0] / f"{DEMO_CLASSES[0]}_0000.png") as img:
        assert img.size == (32, 32) and img.mode == "RGB"
    index = scan_dataset(out)
    assert index.classes == sorted(DEMO_CLASSES)
    assert set(index.counts().values()) == {5}


def test_with_val_layout(tmp_path: Path):
    out = make_demo_dataset(tmp_path, per_class=12, size=32, with_val=True)
    assert len(list((out / "train" / "star").glob("*.png"))) == 12
    assert len(list((out / "val" / "star").glob("*.png"))) == 3
    small = make_demo_dataset(tmp_path / "s", per_class=4, size=32, with_val=True)
    assert len(list((small / "val" / "circle").glob("*.png"))) == 2
    index = scan_dataset(out)
    assert index.split_source == "folders"
    assert index.counts("val") == dict.fromkeys(sorted(DEMO_CLASSES), 3)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path):
    a = _files(make_demo_dataset(tmp_path / "a", per_class=3, size=32, seed=1))
    b = _files(make_demo_dataset(tmp_path / "b", per_class=3, size=32, seed=1))
    c = _files(make_demo_dataset(tmp_path / "c", per_class=3, size=32, seed=2))
    assert a == b
    assert a.keys() == c.keys()
    assert all(a[k] != c[k] for k in a)


def test_images_vary_within_a_class(tmp_path: Path):
    out = make_demo_dataset(tmp_path, per_class=8, size=32, seed=0)
    arrays = [np.asarray(Image.open(p), dtype=np.float32) for p in sorted((out / "square").glob("*.png"))]
    means = [a.mean(axis=(0, 1)) for a in arrays]
    assert np.std(means, axis=0).max() > 10  # colours differ, not one template with noise
    assert all(a.std() > 5 for a in arrays)  # a visible shape on every background


def test_generation_is_fast(tmp_path: Path):
    start = time.perf_counter()
    make_demo_dataset(tmp_path, per_class=40, size=64)
    assert time.perf_counter() - start < 1.5  # well under 1 s on an idle machine


def test_bad_arguments(tmp_path: Path):
    with pytest.raises(EngineError):
        make_demo_dataset(tmp_path, per_class=0)
    with pytest.raises(EngineError):
        make_demo_dataset(tmp_path, size=4)


def test_default_demo_dir_created_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(demo, "_DEFAULT_PER_CLASS", 3)
    monkeypatch.setattr(demo, "_DEFAULT_SIZE", 32)
    first = default_demo_dir()
    assert first == tmp_path / "cache" / "resnet-gui" / "demo-data-v1"
    assert scan_dataset(first).num_images == 3 * len(DEMO_CLASSES)
    stamp = (first / "circle" / "circle_0000.png").stat().st_mtime_ns

    calls = []
    monkeypatch.setattr(demo, "make_demo_dataset", lambda *a, **k: calls.append(a))
    assert default_demo_dir() == first
    assert calls == []  # complete: returned as is
    assert (first / "circle" / "circle_0000.png").stat().st_mtime_ns == stamp
    assert [p.name for p in first.parent.iterdir()] == ["demo-data-v1"]  # no temp folders left


def test_default_demo_dir_replaces_a_half_written_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(demo, "_DEFAULT_PER_CLASS", 2)
    monkeypatch.setattr(demo, "_DEFAULT_SIZE", 32)
    partial = tmp_path / "resnet-gui" / "demo-data-v1" / "circle"
    partial.mkdir(parents=True)
    (partial / "junk.png").write_bytes(b"")
    out = default_demo_dir()
    assert not (out / "circle" / "junk.png").exists()
    assert scan_dataset(out).num_images == 2 * len(DEMO_CLASSES)
    assert [p.name for p in out.parent.iterdir()] == ["demo-data-v1"]
