"""RAM cache of decoded images and the reduced JPEG decode: same tensors with or without the cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from resnet_gui.engine.data import cache as C
from resnet_gui.engine.data.dataset import SkippedItem, collate_skipping
from resnet_gui.engine.data.images import load_image, load_image_reduced
from resnet_gui.engine.data.scan import Sample, scan_dataset
from resnet_gui.engine.data.transforms import (
    build_eval_transform,
    eval_transform_uint8,
    train_transform_uint8,
)
from resnet_gui.engine.errors import ImageLoadError


def _photo(path: Path, w: int, h: int, seed: int = 0, **save) -> Path:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    Image.fromarray(small).resize((w, h), Image.BICUBIC).save(path, **save)
    return path


@pytest.mark.parametrize(
    ("w", "h", "min_side", "want"),
    [(800, 600, 64, (100, 75)), (800, 600, 140, (200, 150)), (500, 375, 73, (125, 94))],
)
def test_reduced_jpeg_decode_is_smaller_but_never_below_min_side(tmp_path, w, h, min_side, want) -> None:
    p = _photo(tmp_path / "a.jpg", w, h, quality=90)
    img = load_image_reduced(p, min_side)
    assert img.mode == "RGB" and img.size == want and min(img.size) >= min_side
    # the content is the same picture: close to a full decode scaled down
    full = np.asarray(load_image(p).resize(want, Image.BILINEAR), dtype=np.float32)
    assert np.abs(np.asarray(img, dtype=np.float32) - full).mean() < 6


def test_reduced_decode_leaves_small_and_non_jpeg_images_alone(tmp_path) -> None:
    jpg = _photo(tmp_path / "s.jpg", 120, 90, quality=90)
    png = _photo(tmp_path / "b.png", 800, 600)
    for p, side in ((jpg, 64), (png, 64)):
        assert np.array_equal(np.asarray(load_image_reduced(p, side)), np.asarray(load_image(p)))


def test_reduced_decode_applies_exif_orientation_and_refuses_bad_files(tmp_path) -> None:
    p = tmp_path / "rot.jpg"
    img = Image.fromarray(np.zeros((600, 800, 3), np.uint8))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90: width and height swap
    img.save(p, exif=exif, quality=90)
    assert load_image_reduced(p, 64).size == (75, 100)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(p.read_bytes()[:400])
    with pytest.raises(ImageLoadError):
        load_image_reduced(bad, 64)
    with pytest.raises(ImageLoadError, match="file not found"):
        load_image_reduced(tmp_path / "missing.jpg", 64)


def test_decode_resized_short_side(tmp_path) -> None:
    p = _photo(tmp_path / "a.jpg", 500, 375, quality=90)
    t = C.decode_resized(str(p), C.cache_side(64))
    assert t.dtype == torch.uint8 and t.shape[0] == 3 and min(t.shape[1:]) == C.cache_side(64) == 73


@pytest.mark.parametrize("augment", ["light", "strong", "none"])
def test_cached_pipeline_gives_the_same_tensors_as_the_uncached_one(tmp_path, augment) -> None:
    paths = [_photo(tmp_path / f"{i}.jpg", 500, 375, seed=i, quality=90) for i in range(4)]
    samples = [Sample(str(p), i % 2) for i, p in enumerate(paths)]
    side = C.cache_side(48)
    tf = train_transform_uint8(48, augment)
    cache = C.DecodedCache(side)
    cached = C.CachedImageDataset(samples, tf, side, cache)
    plain = C.CachedImageDataset(samples, tf, side, None)
    for epoch in range(2):
        torch.manual_seed(epoch)
        a = collate_skipping([cached[i] for i in range(len(samples))])
        torch.manual_seed(epoch)
        b = collate_skipping([plain[i] for i in range(len(samples))])
        assert a[0].shape == (4, 3, 48, 48) and torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert len(cache) == 4 and cache.misses == 4 and cache.hits == 4  # decoded once, reused in epoch 2
    assert cache.nbytes == sum(t.numel() for t in cache._items.values())
    if augment != "none":  # augmentation still differs from epoch to epoch
        torch.manual_seed(0)
        e0 = cached[0][0]
        torch.manual_seed(1)
        assert not torch.equal(e0, cached[0][0])


def test_eval_from_the_cache_equals_the_classic_eval_transform(tmp_path) -> None:
    p = _photo(tmp_path / "a.png", 90, 70)  # PNG: no reduced decode, so the pixels must match exactly
    side = C.cache_side(32)
    ds = C.CachedImageDataset([Sample(str(p), 0)], eval_transform_uint8(32), side, C.DecodedCache(side))
    want = build_eval_transform(32)(load_image(p))
    assert torch.allclose(ds[0][0], want, atol=1e-6)


def test_bad_files_become_skipped_items_once(tmp_path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    cache = C.DecodedCache(37)
    ds = C.CachedImageDataset([Sample(str(bad), 0)], eval_transform_uint8(32), 37, cache)
    for _ in range(2):
        item = ds[0]
        assert isinstance(item, SkippedItem) and "not an image" in item.reason
    assert cache.misses == 1
    with pytest.raises(ValueError, match="cache holds"):
        C.CachedImageDataset([], eval_transform_uint8(32), 40, cache)


def test_cache_budget_decides(demo_dir) -> None:
    index = scan_dataset(demo_dir, val_split=0.2)
    assert isinstance(C.plan_cache(index, 32), C.DecodedCache)
    assert C.plan_cache(index, 32, enabled=False) is None
    assert C.plan_cache(index, 32, budget=1000) is None
    assert C.estimate_cache_bytes(10, 100, 1.5) == 10 * (3 * 100 * 150 + 400)
    assert C.cache_budget_bytes(8 * 2**30) == 2 * 2**30
    assert C.cache_budget_bytes(1024 * 2**30) == C.RAM_CAP_BYTES


def test_training_without_the_cache_still_works(demo_dir, tmp_path) -> None:
    from resnet_gui.engine.config import TrainConfig
    from resnet_gui.engine.train.loop import train

    cfg = TrainConfig(
        data_dir=str(demo_dir), epochs=1, img_size=32, batch_size=16, workers=0, out_dir=str(tmp_path)
    )
    a = train(cfg)
    b = train(TrainConfig(**{**cfg.__dict__, "cache_images": False, "run_name": "plain"}))
    assert a.history[0]["val_acc"] is not None and b.history[0]["val_acc"] is not None
    assert a.skipped == b.skipped == []
