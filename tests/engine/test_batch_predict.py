"""Batch prediction into a CSV (engine/infer/batch.py): one row per image, the same numbers as
Predictor.predict, resumable after a stop or a torn write, bad files as error rows."""

from __future__ import annotations

import csv
import threading
from pathlib import Path

import pytest

from resnet_gui.engine.data.demo import make_demo_dataset
from resnet_gui.engine.errors import EngineError
from resnet_gui.engine.infer.batch import BatchProgress, predict_folder_to_csv
from resnet_gui.engine.infer.batch_procs import merge_parts, part_files, predict_folder_to_csv_procs
from resnet_gui.engine.infer.predict import (
    CSV_HEADER,
    Prediction,
    Predictor,
    expand_inputs,
    prediction_csv_row,
    write_predictions_csv,
)


@pytest.fixture(scope="module")
def predictor(checkpoint) -> Predictor:
    return Predictor(checkpoint, device="cpu")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """12 demo images in class subfolders plus two bad files."""
    root = make_demo_dataset(tmp_path_factory.mktemp("batch") / "imgs", per_class=3, size=32, seed=3)
    (root / "circle" / "not-an-image.png").write_bytes(b"this is not a PNG")
    good = (root / "square" / "square_0000.png").read_bytes()
    (root / "square" / "truncated.png").write_bytes(good[: len(good) // 2])
    return root


def _rows(csv_path: Path) -> list[dict]:
    with open(csv_path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        assert tuple(next(reader)) == CSV_HEADER
        rows = list(reader)
    assert all(len(r) == len(CSV_HEADER) for r in rows)
    return [dict(zip(CSV_HEADER, r, strict=True)) for r in rows]


def test_one_row_per_image_with_predicts_numbers(predictor, folder, tmp_path):
    out = tmp_path / "preds.csv"
    progress: list[BatchProgress] = []
    summary = predict_folder_to_csv(
        predictor, [folder], out, batch_size=5, workers=0, on_progress=progress.append
    )
    paths = [str(p) for p in expand_inputs([folder])]
    rows = _rows(out)
    assert sorted(r["path"] for r in rows) == sorted(paths) and len(rows) == 14
    assert summary.written == summary.total == 14 and summary.errors == 2 and not summary.stopped
    assert progress[-1].done == progress[-1].total == 14 and progress[-1].eta_s == 0

    bad = {r["path"]: r for r in rows if r["error"]}
    assert set(bad) == {str(folder / "circle" / "not-an-image.png"), str(folder / "square" / "truncated.png")}
    assert all(r["class"] == "" and r["prob"] == "" for r in bad.values())

    by_path = {r["path"]: r for r in rows}
    for p in predictor.predict(paths, topk=5):
        row = by_path[p.path]
        if p.error:
            assert row["error"] == p.error
            continue
        assert row["class"] == p.label and float(row["prob"]) == pytest.approx(p.confidence, abs=1e-5)
        topk = [pair.rsplit(":", 1) for pair in row["topk"].split(";")]
        assert [c for c, _ in topk] == [c for c, _ in p.topk]
        assert [float(v) for _, v in topk] == pytest.approx([v for _, v in p.topk], abs=1e-5)
        assert float(row["total_ms"]) >= float(row["forward_ms"]) > 0


def test_rows_are_formatted_as_write_predictions_csv_does(tmp_path):
    preds = [
        Prediction("a,b.png", topk=[("cat", 0.75), ("dog", 0.25)], timing_ms={"load": 1.0, "forward": 2.5}),
        Prediction('q"uote.png', error="not an image"),
    ]
    write_predictions_csv(preds, tmp_path / "one.csv")
    with open(tmp_path / "two.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_HEADER)
        w.writerows(prediction_csv_row(p) for p in preds)
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()


def test_a_stopped_run_resumes_and_each_image_is_there_once(predictor, folder, tmp_path):
    out = tmp_path / "preds.csv"
    stop = threading.Event()
    first = predict_folder_to_csv(
        predictor, [folder], out, batch_size=4, workers=1, on_progress=lambda _p: stop.set(), stop=stop
    )
    assert first.stopped and first.written == 4 and len(_rows(out)) == 4
    second = predict_folder_to_csv(predictor, [folder], out, batch_size=4, workers=1)
    assert not second.stopped and second.already_done == 4 and second.written == 10
    paths = sorted(r["path"] for r in _rows(out))
    assert paths == sorted(str(p) for p in expand_inputs([folder]))  # each exactly once
    third = predict_folder_to_csv(predictor, [folder], out, workers=0)
    assert third.written == 0 and third.already_done == 14


def test_a_torn_last_row_is_cut_off_and_redone(predictor, folder, tmp_path):
    out = tmp_path / "preds.csv"
    predict_folder_to_csv(predictor, [folder], out, batch_size=8, workers=0)
    data = out.read_bytes()
    out.write_bytes(data[:-7])  # a kill in the middle of writing the last row
    summary = predict_folder_to_csv(predictor, [folder], out, batch_size=8, workers=0)
    assert summary.written == 1 and summary.already_done == 13
    rows = _rows(out)
    assert sorted(r["path"] for r in rows) == sorted(str(p) for p in expand_inputs([folder]))


def test_a_csv_that_is_not_ours_is_left_alone(predictor, folder, tmp_path):
    out = tmp_path / "other.csv"
    out.write_text("name,age\nbob,3\n")
    with pytest.raises(EngineError, match="not a predictions CSV"):
        predict_folder_to_csv(predictor, [folder], out, workers=0)
    assert out.read_text() == "name,age\nbob,3\n"


# -- --nproc: several processes, one part file each, merged into the CSV -------------------------------


def _probs(rows: list[dict]) -> dict[str, list[float]]:
    return {r["path"]: [float(p.rsplit(":", 1)[1]) for p in r["topk"].split(";")] for r in rows if r["topk"]}


def test_nproc_2_gives_one_row_per_image_with_the_same_numbers(checkpoint, predictor, folder, tmp_path):
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    predict_folder_to_csv(predictor, [folder], one, batch_size=4, workers=0)
    progress: list[BatchProgress] = []
    summary = predict_folder_to_csv_procs(
        checkpoint, [folder], two, 2, batch_size=4, workers=0, device="cpu", on_progress=progress.append
    )
    assert summary.written == summary.total == 14 and summary.errors == 2 and not summary.stopped
    assert progress[-1].done == 14 and part_files(two) == []
    rows1, rows2 = _rows(one), _rows(two)
    assert [r["path"] for r in rows2] == [r["path"] for r in rows1]  # contiguous shards, merged in order
    assert [(r["class"], r["error"]) for r in rows2] == [(r["class"], r["error"]) for r in rows1]
    p1, p2 = _probs(rows1), _probs(rows2)
    assert p1.keys() == p2.keys() and len(p1) == 12
    for path, probs in p1.items():
        assert p2[path] == pytest.approx(probs, abs=1e-5)


def test_nproc_stopped_after_the_first_batch_resumes_without_duplicates(checkpoint, folder, tmp_path):
    out = tmp_path / "preds.csv"
    stop = threading.Event()
    stop.set()  # before the start: each process stops after its first batch
    first = predict_folder_to_csv_procs(
        checkpoint, [folder], out, 2, batch_size=2, workers=0, device="cpu", stop=stop
    )
    assert first.stopped and first.written == 4 and part_files(out) == []
    assert len({r["path"] for r in _rows(out)}) == len(_rows(out)) == first.written
    second = predict_folder_to_csv_procs(checkpoint, [folder], out, 2, batch_size=2, workers=0, device="cpu")
    assert second.already_done == first.written and second.written == 14 - first.written
    paths = sorted(r["path"] for r in _rows(out))
    assert paths == sorted(str(p) for p in expand_inputs([folder]))  # each exactly once


def test_part_files_a_killed_run_left_are_merged_not_redone(predictor, checkpoint, folder, tmp_path):
    """A kill leaves the CSV and part files: a torn row, rows the CSV has already (a kill mid-merge)."""
    out = tmp_path / "preds.csv"
    paths = [str(p) for p in expand_inputs([folder])]
    predict_folder_to_csv(predictor, paths[:4], out, workers=0)
    part0, part1 = Path(f"{out}.part-0"), Path(f"{out}.part-1")
    predict_folder_to_csv(predictor, paths[2:7], part0, workers=0)  # 2 of them are in the CSV too
    predict_folder_to_csv(predictor, paths[7:9], part1, workers=0)
    part1.write_bytes(part1.read_bytes()[:-5])  # its last row torn: that image is predicted again
    Path(f"{out}.part-x").write_text("not ours")  # not a part file: left alone
    # forkserver: a child's OS parent is the fork server; it must not read as "the caller is gone"
    summary = predict_folder_to_csv_procs(
        checkpoint, [folder], out, 2, batch_size=1, workers=0, device="cpu", mp_context="forkserver"
    )
    assert summary.already_done == 8 and summary.written == 6 and part_files(out) == []
    assert sorted(r["path"] for r in _rows(out)) == sorted(paths)  # each exactly once
    assert Path(f"{out}.part-x").read_text() == "not ours"
    assert merge_parts(out) == 0


def test_nproc_reports_a_failed_process(folder, tmp_path):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(EngineError, match="2 of 2 prediction processes failed"):
        predict_folder_to_csv_procs(bad, [folder], tmp_path / "p.csv", 2, workers=0, device="cpu")
