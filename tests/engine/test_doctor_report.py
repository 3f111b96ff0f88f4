"""check_dataset: leakage across the split, duplicates, unreadable and odd files, imbalance, and a label-error
ranking that puts flipped labels at the top of a tiny set."""

from __future__ import annotations

import shutil
import threading

import pytest
from PIL import Image

from resnet_gui.engine.data.demo import make_demo_dataset
from resnet_gui.engine.data.doctor.confident import precision_recall_at_k
from resnet_gui.engine.data.doctor.journal import Journal
from resnet_gui.engine.data.doctor.report import DoctorProgress, check_dataset


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A train/val demo set with an exact copy and a resized JPEG copy of train images in val, a truncated
    file, a tiny image, a wide one and a greyscale one."""
    d = make_demo_dataset(tmp_path_factory.mktemp("doc") / "d", per_class=10, size=48, seed=0, with_val=True)
    shutil.copy(d / "train/circle/circle_0000.png", d / "val/circle/copy.png")
    Image.open(d / "train/star/star_0003.png").resize((60, 60)).save(d / "val/star/near.jpg", quality=85)
    (d / "train/square/broken.png").write_bytes((d / "train/square/square_0001.png").read_bytes()[:300])
    Image.new("RGB", (12, 12), (200, 10, 10)).save(d / "train/square/tiny.png")
    Image.new("RGB", (200, 40), (10, 200, 10)).save(d / "train/triangle/wide.png")
    Image.open(d / "train/star/star_0004.png").convert("L").save(d / "train/star/grey.png")
    events: list = []
    return d, check_dataset(str(d), on_event=events.append), events


def test_leakage_exact_and_near_copies_across_the_split_come_first(planted):
    d, report, _ = planted
    leaks = {(x["train"], x["val"], x["kind"]) for x in report.leakage}
    assert (str(d / "train/circle/circle_0000.png"), str(d / "val/circle/copy.png"), "exact") in leaks
    assert (str(d / "train/star/star_0003.png"), str(d / "val/star/near.jpg"), "near") in leaks
    assert report.leakage[0]["kind"] == "exact"
    assert [str(d / "train/circle/circle_0000.png"), str(d / "val/circle/copy.png")] in report.duplicates
    assert any(str(d / "val/star/near.jpg") in g for g in report.near_duplicates)
    assert report.summary_lines()[0].startswith("LEAKAGE")


def test_file_findings_and_usable_counts(planted):
    d, report, _ = planted
    assert [u["path"] for u in report.unreadable] == [str(d / "train/square/broken.png")]
    assert report.unreadable[0]["truncated"]
    assert report.usable == report.num_files - 1
    assert sum(report.imbalance["counts"].values()) == report.usable  # only usable images are counted
    assert [x["path"] for x in report.image_issues["tiny"]] == [str(d / "train/square/tiny.png")]
    assert [x["path"] for x in report.image_issues["extreme_aspect"]] == [str(d / "train/triangle/wide.png")]
    assert [x["path"] for x in report.image_issues["mixed_mode"]] == [str(d / "train/star/grey.png")]


def test_progress_events(planted):
    _, report, events = planted
    stages = [e.stage for e in events if isinstance(e, DoctorProgress)]
    assert "reading" in stages and stages[-1] == "cross-validating"
    last_read = [e for e in events if e.stage == "reading"][-1]
    assert last_read.done == last_read.total == report.num_files


def test_imbalance_offers_balance(tmp_path):
    d = make_demo_dataset(tmp_path / "d", per_class=6, size=24, seed=0)
    for p in sorted((d / "circle").glob("*.png"))[2:]:
        p.unlink()
    report = check_dataset(str(d), folds=2)
    assert report.imbalance["suggest_balance"] and report.imbalance["smallest"][0] == "circle"
    assert report.imbalance["ratio"] == 3.0
    assert "--balance" in report.imbalance["advice"]


def test_flipped_labels_rank_at_the_top_and_kept_ones_are_not_suggested_again(tmp_path):
    d = make_demo_dataset(tmp_path / "d", per_class=20, size=48, seed=0)
    flips = [
        ("circle", 1, "square"),
        ("square", 2, "star"),
        ("star", 3, "triangle"),
        ("triangle", 4, "circle"),
    ]
    flipped = set()
    for cls, i, to in flips:
        src = d / cls / f"{cls}_{i:04d}.png"
        shutil.move(src, d / to / src.name)
        flipped.add(str(d / to / src.name))
    report = check_dataset(str(d))
    ranked = [x["path"] for x in report.label_issues]
    precision, recall = precision_recall_at_k(ranked, flipped, len(flipped))
    assert precision >= 0.75, report.label_issues[:6]
    top = report.label_issues[0]
    assert top["path"] in flipped and top["suggested"] == top["path"].rsplit("/", 1)[1].split("_")[0]
    assert 0.5 < top["score"] <= 1.0

    Journal(d).keep([top["path"]])
    again = check_dataset(str(d))
    assert top["path"] not in [x["path"] for x in again.label_issues]
    assert again.reviewed_hidden == 1


def test_stop_returns_what_was_found_so_far(tmp_path):
    d = make_demo_dataset(tmp_path / "d", per_class=4, size=24, seed=0)
    stop = threading.Event()
    seen = []

    def on_event(e):
        seen.append(e)
        stop.set()

    report = check_dataset(str(d), on_event=on_event, stop=stop)
    assert report.stopped and report.label_issues == [] and report.num_files == 16
