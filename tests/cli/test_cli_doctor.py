"""`doctor --json`, `relabel`, `remove`, `keep`, `undo`, `redo` from the command line."""

from __future__ import annotations

import json
import shutil

from resnet_gui.cli import main
from resnet_gui.engine.data.demo import make_demo_dataset
from tests.engine.test_doctor_journal import snapshot

DOCTOR_KEYS = {"duplicates", "leakage", "imbalance", "unreadable", "label_issues"}
ISSUE_KEYS = {"path", "given", "suggested", "score"}


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_doctor_json(capsys, tmp_path):
    d = make_demo_dataset(tmp_path / "d", per_class=16, size=48, seed=0, with_val=True)
    shutil.copy(d / "train/circle/circle_0000.png", d / "val/circle/copy.png")
    shutil.move(d / "train/star/star_0001.png", d / "train/square/star_0001.png")
    shutil.move(d / "train/circle/circle_0002.png", d / "train/triangle/circle_0002.png")
    code, out, err = run_cli(capsys, "doctor", d, "--json")
    assert code == 0, err
    report = json.loads(out)  # stdout holds exactly one JSON object
    assert report.keys() >= DOCTOR_KEYS
    assert report["leakage"][0] == {
        "train": str(d / "train/circle/circle_0000.png"),
        "val": str(d / "val/circle/copy.png"),
        "kind": "exact",
    }
    assert report["label_issues"] and all(i.keys() >= ISSUE_KEYS for i in report["label_issues"])
    scores = [i["score"] for i in report["label_issues"]]
    assert scores == sorted(scores, reverse=True)  # most likely first
    assert "cross-validating" in err  # progress on stderr


def test_doctor_text_and_unreadable_exit_code(capsys, tmp_path):
    d = make_demo_dataset(tmp_path / "d", per_class=5, size=24, seed=0)
    (d / "circle" / "bad.png").write_bytes(b"\x89PNG not really")
    code, out, _ = run_cli(capsys, "doctor", d)
    assert code == 1  # some inputs failed, still reported
    assert "unreadable" in out and "circle/bad.png" in out


def test_relabel_remove_keep_undo_redo_round_trip(capsys, tmp_path):
    d = make_demo_dataset(tmp_path / "d", per_class=4, size=16, seed=0)
    before = snapshot(d)
    code, out, _ = run_cli(capsys, "relabel", d, d / "circle/circle_0000.png", "--to", "star", "--json")
    assert code == 0 and json.loads(out)["changes"][0]["moves"] == [
        ["circle/circle_0000.png", "star/circle_0000.png"]
    ]
    assert run_cli(capsys, "remove", d, d / "star/star_0000.png", d / "square/square_0001.png")[0] == 0
    assert run_cli(capsys, "keep", d, d / "star/star_0001.png")[0] == 0
    after = snapshot(d)
    code, out, _ = run_cli(capsys, "undo", d, "--steps", "10", "--json")
    assert code == 0 and [c["kind"] for c in json.loads(out)["changes"]] == ["keep", "remove", "relabel"]
    assert snapshot(d) == before
    code, _, err = run_cli(capsys, "undo", d)
    assert code == 0 and "nothing to undo" in err
    assert run_cli(capsys, "redo", d, "--steps", "3")[0] == 0
    assert snapshot(d) == after


def test_relabel_errors_are_one_line(capsys, tmp_path):
    d = make_demo_dataset(tmp_path / "d", per_class=3, size=16, seed=0)
    code, _, err = run_cli(capsys, "relabel", d, tmp_path / "elsewhere.png", "--to", "star")
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
