"""Dataset scanning, splitting, transforms and the skip-bad-files batching."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest
import torch
from PIL import Image

from resnet_gui.engine.config import AUGMENT_PRESETS
from resnet_gui.engine.data.dataset import (
    ImageDataset,
    SkippedItem,
    collate_skipping,
    collate_skipping_with_indices,
    make_weighted_sampler,
)
from resnet_gui.engine.data.scan import DatasetIndex, Sample, auto_img_size, sample_image_size, scan_dataset
from resnet_gui.engine.data.transforms import PRESETS, build_eval_transform, build_train_transform
from resnet_gui.engine.errors import DatasetError, EngineError


def _img(path: Path, size: tuple[int, int] = (40, 32), colour=(200, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def _touch(path: Path, data: bytes = b"x") -> Path:
    """A file with an image name that scanning must not open (scan never decodes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _tree(root: Path, spec: dict[str, int]) -> Path:
    for cls, n in spec.items():
        for i in range(n):
            _touch(root / cls / f"{cls}_{i:03d}.jpg")
    return root


def test_scan_finds_classes_and_counts(tmp_path: Path):
    _tree(tmp_path, {"dogs": 5, "cats": 10})
    index = scan_dataset(tmp_path, val_split=0.2, seed=0)
    assert index.classes == ["cats", "dogs"]
    assert index.split_source == "auto"
    assert index.counts() == {"cats": 10, "dogs": 5}
    assert index.counts("val") == {"cats": 2, "dogs": 1}
    assert index.counts("train") == {"cats": 8, "dogs": 4}
    assert index.num_images == 15
    assert index.root == str(tmp_path.resolve())
    assert all(os.path.isabs(s.path) for s in index.train)
    assert {s.label for s in index.train if "/cats/" in s.path} == {0}
    assert index.problems == [] and index.empty_classes == []


def test_hidden_files_and_folders_ignored_and_extensions_case_insensitive(tmp_path: Path):
    _tree(tmp_path, {"a": 2, "b": 2})
    _touch(tmp_path / "a" / "UPPER.JPG")
    _touch(tmp_path / "a" / "mixed.PnG")
    _touch(tmp_path / "a" / "notes.txt")
    _touch(tmp_path / "a" / ".hidden.jpg")
    _touch(tmp_path / "a" / ".thumbs" / "t.jpg")
    _touch(tmp_path / ".git" / "x.png")
    _touch(tmp_path / ".cache" / "c" / "y.png")
    index = scan_dataset(tmp_path, val_split=0)
    assert index.classes == ["a", "b"]
    names = sorted(Path(s.path).name for s in index.train if s.label == 0)
    assert names == ["UPPER.JPG", "a_000.jpg", "a_001.jpg", "mixed.PnG"]


def test_nested_images_belong_to_their_class_folder(tmp_path: Path):
    _tree(tmp_path, {"a": 1, "b": 1})
    _touch(tmp_path / "a" / "2019" / "june" / "deep.png")
    index = scan_dataset(tmp_path, val_split=0)
    assert index.counts() == {"a": 2, "b": 1}


def test_train_val_folders_detected(tmp_path: Path):
    _tree(tmp_path / "train", {"x": 4, "y": 3})
    _tree(tmp_path / "val", {"x": 2, "z": 1})
    index = scan_dataset(tmp_path, val_split=0.5)  # val_split is ignored for a given split
    assert index.split_source == "folders"
    assert index.classes == ["x", "y", "z"]
    assert index.counts("train") == {"x": 4, "y": 3, "z": 0}
    assert index.counts("val") == {"x": 2, "y": 0, "z": 1}
    assert all("/train/" in s.path for s in index.train)
    assert all("/val/" in s.path for s in index.val)
    assert any("'y'" in p and "val" in p for p in index.problems)
    assert any("'z'" in p and "train" in p for p in index.problems)


def test_test_folder_used_when_no_val(tmp_path: Path):
    _tree(tmp_path / "train", {"x": 2, "y": 2})
    _tree(tmp_path / "test", {"x": 1, "y": 1})
    index = scan_dataset(tmp_path)
    assert index.split_source == "folders"
    assert index.counts("val") == {"x": 1, "y": 1}


def test_train_only_folder_is_split_automatically(tmp_path: Path):
    _tree(tmp_path / "train", {"x": 5, "y": 5})
    index = scan_dataset(tmp_path, val_split=0.2)
    assert index.split_source == "auto"
    assert index.classes == ["x", "y"]
    assert index.counts("val") == {"x": 1, "y": 1}


def test_stratified_split_is_deterministic_and_stratified(tmp_path: Path):
    _tree(tmp_path, {"a": 50, "b": 20, "c": 2, "d": 1})
    one = scan_dataset(tmp_path, val_split=0.2, seed=7)
    two = scan_dataset(tmp_path, val_split=0.2, seed=7)
    other = scan_dataset(tmp_path, val_split=0.2, seed=8)
    assert one.train == two.train and one.val == two.val
    assert {s.path for s in one.val} != {s.path for s in other.val}
    assert one.counts("val") == {"a": 10, "b": 4, "c": 1, "d": 0}
    assert other.counts("val") == one.counts("val")
    assert not {s.path for s in one.train} & {s.path for s in one.val}
    assert any("'d'" in p for p in one.problems)  # a single image cannot be validated

    none = scan_dataset(tmp_path, val_split=0)
    assert none.val == [] and len(none.train) == 73


def test_split_of_a_class_does_not_change_when_another_class_is_added(tmp_path: Path):
    _tree(tmp_path, {"a": 30, "b": 30})
    before = {s.path for s in scan_dataset(tmp_path, seed=1).val if s.label == 0}
    _tree(tmp_path, {"c": 10})
    after = {s.path for s in scan_dataset(tmp_path, seed=1).val if s.label == 0}
    assert before == after


def test_one_class_is_an_error(tmp_path: Path):
    _tree(tmp_path, {"only": 3})
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="only one class") as info:
        scan_dataset(tmp_path)
    assert str(tmp_path) in str(info.value)
    assert "at least two class folders" in str(info.value)


def test_no_classes_is_an_error(tmp_path: Path):
    with pytest.raises(DatasetError, match="no class folders"):
        scan_dataset(tmp_path)
    _touch(tmp_path / "loose.jpg")
    with pytest.raises(DatasetError, match="directly in it"):
        scan_dataset(tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        scan_dataset(tmp_path / "nope")
    with pytest.raises(DatasetError, match="not a dataset folder"):
        scan_dataset(tmp_path / "loose.jpg")
    with pytest.raises(DatasetError, match="val_split"):
        scan_dataset(tmp_path, val_split=1.0)


def test_empty_class_and_empty_files_reported(tmp_path: Path):
    _tree(tmp_path, {"a": 2, "b": 2})
    (tmp_path / "c").mkdir()
    _touch(tmp_path / "d" / "zero.jpg", b"")
    _touch(tmp_path / "a" / "zero.png", b"")
    index = scan_dataset(tmp_path)
    assert index.classes == ["a", "b"]
    assert index.empty_classes == ["c", "d"]
    assert index.num_images == 4
    assert not any("zero" in s.path for s in [*index.train, *index.val])
    text = "\n".join(index.problems)
    assert "'c'" in text and "'d'" in text
    assert "zero.png" in text and "0 bytes" in text


def test_to_json_round_trips(tmp_path: Path):
    _tree(tmp_path, {"a": 3, "b": 2})
    data = json.loads(json.dumps(scan_dataset(tmp_path).to_json()))
    assert data["classes"] == ["a", "b"]
    assert data["counts"]["all"] == {"a": 3, "b": 2}
    assert data["num_images"] == 5 and data["split_source"] == "auto"
    assert {"root", "problems", "empty_classes"} <= data.keys()


def test_scan_does_not_open_images_and_is_fast(tmp_path: Path):
    n_classes, per_class = 10, 2_000
    # 20k names for one 1-byte file (not a JPEG: opening it would fail). Hard links are ~50x faster
    # to make than new files on a busy disk; fall back to real files where links are not supported.
    source = tmp_path / "one_byte"
    source.write_bytes(b"x")
    data = tmp_path / "data"
    for c in range(n_classes):
        folder = data / f"class_{c:02d}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            name = folder / f"{i:05d}.jpg"
            try:
                os.link(source, name)
            except OSError:
                name.write_bytes(b"x")
    start = time.perf_counter()
    index = scan_dataset(data)
    elapsed = time.perf_counter() - start
    assert index.num_images == n_classes * per_class
    assert elapsed < 2.0, f"scanning 20k files took {elapsed:.2f}s"


def test_sample_image_size_and_auto_img_size(tmp_path: Path):
    for i in range(3):
        _img(tmp_path / "a" / f"{i}.png", (100, 60))
        _img(tmp_path / "b" / f"{i}.png", (100, 60))
    index = scan_dataset(tmp_path, val_split=0)
    assert sample_image_size(index) == (100, 60)
    assert auto_img_size(index) == 64
    big = DatasetIndex(
        str(tmp_path), ["a"], [Sample(str(_img(tmp_path / "big.png", (900, 700))), 0)], [], "auto"
    )
    assert auto_img_size(big) == 224
    small = DatasetIndex(
        str(tmp_path), ["a"], [Sample(str(_img(tmp_path / "s.png", (20, 20))), 0)], [], "auto"
    )
    assert auto_img_size(small) == 32


def test_transforms_output_shapes():
    img = Image.new("RGB", (50, 37), (10, 200, 30))
    for preset in AUGMENT_PRESETS:
        out = build_train_transform(48, preset)(img)
        assert out.shape == (3, 48, 48) and out.dtype == torch.float32
    ev = build_eval_transform(32)
    assert ev(img).shape == (3, 32, 32)
    resize = ev.transforms[0]
    assert resize.size == round(32 * 256 / 224)
    # eval is deterministic and normalised with ImageNet statistics
    assert torch.equal(ev(img), ev(img))
    assert ev(Image.new("RGB", (40, 40), (124, 116, 104))).abs().max() < 0.02
    with pytest.raises(EngineError):
        build_train_transform(32, "extreme")


def test_light_preset_uses_a_gentle_crop_scale():
    crop = build_train_transform(64, "light").transforms[0]
    assert crop.scale == (0.6, 1.0)
    assert build_train_transform(64, "strong").transforms[0].scale == (0.35, 1.0)


def test_every_augmentation_choice_has_one_recipe():
    assert set(PRESETS) == set(AUGMENT_PRESETS)


def test_dataset_and_collate_skip_bad_files(tmp_path: Path):
    good = [_img(tmp_path / f"g{i}.png") for i in range(3)]
    bad_text = _touch(tmp_path / "bad.jpg", b"not an image at all")
    missing = tmp_path / "gone.png"
    paths = [good[0], bad_text, good[1], missing, good[2]]
    samples = [Sample(str(p), label) for p, label in zip(paths, [0, 1, 1, 0, 1], strict=True)]
    ds = ImageDataset(samples, build_eval_transform(32))
    assert len(ds) == 5
    item = ds[1]
    assert isinstance(item, SkippedItem) and item.path == str(bad_text)
    tensor, label, idx = ds[2]
    assert tensor.shape == (3, 32, 32) and label == 1 and idx == 2

    images, labels, skipped = collate_skipping([ds[i] for i in range(5)])
    assert images.shape == (3, 3, 32, 32)
    assert labels.tolist() == [0, 1, 1]
    assert [p for p, _ in skipped] == [str(bad_text), str(missing)]
    assert dict(skipped)[str(missing)] == "file not found"

    images, labels, indices, skipped = collate_skipping_with_indices([ds[i] for i in range(5)])
    assert indices.tolist() == [0, 2, 4]

    images, labels, skipped = collate_skipping([ds[1], ds[3]])
    assert images.shape[0] == 0 and labels.shape == (0,) and len(skipped) == 2


def test_dataloader_with_skipping_collate(tmp_path: Path):
    samples = [Sample(str(_img(tmp_path / f"{i}.png")), i % 2) for i in range(4)]
    samples.append(Sample(str(_touch(tmp_path / "trunc.png", b"\x89PNG\r\n\x1a\n")), 0))
    loader = torch.utils.data.DataLoader(
        ImageDataset(samples, build_train_transform(32, "strong")), batch_size=3, collate_fn=collate_skipping
    )
    seen, skipped = 0, []
    for images, labels, bad in loader:
        assert len(labels) == len(images)
        seen += len(images)
        skipped += bad
    assert seen == 4 and [Path(p).name for p, _ in skipped] == ["trunc.png"]


def test_weighted_sampler_balances_classes():
    samples = [Sample(f"a{i}", 0) for i in range(90)] + [Sample(f"b{i}", 1) for i in range(10)]
    sampler = make_weighted_sampler(samples, 2, seed=0)
    draws = list(sampler)
    assert len(draws) == 100
    counts = Counter(samples[i].label for i in draws)
    assert 30 <= counts[1] <= 70  # about half, instead of 10%
    assert list(make_weighted_sampler(samples, 2, seed=0)) == draws
