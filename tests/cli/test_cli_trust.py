"""`predict --json/--csv` carry unknown + ood_score, `--tta`, `--strictness`; `eval --json` calibration."""

from __future__ import annotations

import csv
import json

from resnet_gui.cli import main
from resnet_gui.engine.model.weights import read_metadata


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_json_has_the_verdict_and_strictness_zero_turns_it_off(capsys, checkpoint, demo_dir):
    img = demo_dir / "star" / "star_0000.png"
    code, out, _ = run_cli(capsys, "predict", checkpoint, img, "--json")
    r = json.loads(out)["results"][0]
    assert code == 0 and isinstance(r["unknown"], bool) and isinstance(r["ood_score"], float)
    code, out, _ = run_cli(capsys, "predict", checkpoint, img, "--json", "--strictness", "0", "--tta")
    assert code == 0 and json.loads(out)["results"][0]["unknown"] is None
    code, _, err = run_cli(capsys, "predict", checkpoint, img, "--strictness", "80")
    assert code == 2 and "error: --strictness" in err


def test_predict_csv_streams_the_verdict(capsys, checkpoint, demo_dir, tmp_path):
    out = tmp_path / "p.csv"
    code, _, _ = run_cli(capsys, "predict", checkpoint, demo_dir / "circle", "--csv", out)
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert code == 0 and rows and all(r["unknown"] in ("true", "false") and r["ood_score"] for r in rows)


def test_eval_json_has_calibration(capsys, checkpoint, demo_dir):
    code, out, _ = run_cli(capsys, "eval", checkpoint, demo_dir, "--json", "--workers", "0", "--tta")
    data = json.loads(out)
    stored = read_metadata(checkpoint)["trust"]
    assert code == 0 and data["tta"] is True
    assert data["calibration"]["temperature"] == stored["temperature"]
    assert {"ece_before", "ece_after"} <= set(data["calibration"])
