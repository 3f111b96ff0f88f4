"""Issue 15, reliability round two (command line): every drop named on stderr and in --json, results never
lost to a bad output path, a stopped run told apart, names escaped, a dead display in one line."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from resnet_gui.cli import main
from resnet_gui.cli.common import EXIT_STOPPED, term_safe
from resnet_gui.engine.runs import RUN_FILE
from tests.engine.test_reliability2 import _rewrite_meta, _small

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ["--epochs", "1", "--img-size", "32", "--batch-size", "8", "--workers", "0", "--device", "cpu"]


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- 8. problems on stderr and in --json ------------------------------------------------------------------


def test_train_reports_dataset_problems_on_stderr_and_in_json(capsys, demo_dir, tmp_path):
    data = _small(demo_dir, tmp_path / "data")
    (data / "empty").mkdir()
    (data / "square" / "zero.png").write_bytes(b"")
    code, out, err = run_cli(capsys, "train", data, *TRAIN, "--out", tmp_path / "runs", "--json")
    doc = json.loads(out)
    problem = "class folder 'empty' has no images and was left out"
    assert code == 0 and problem in doc["problems"] and f"warning: {problem}" in err
    assert f"warning: {data / 'square' / 'zero.png'} is empty (0 bytes) and was skipped" in err


def test_eval_lists_zero_byte_files_as_skipped_and_the_problems(capsys, checkpoint, demo_dir, tmp_path):
    data = _small(demo_dir, tmp_path / "data", classes=("circle", "square", "triangle", "star"), n=2)
    (data / "circle" / "zero.png").write_bytes(b"")
    code, out, err = run_cli(capsys, "eval", checkpoint, data, "--device", "cpu", "--workers", "0", "--json")
    doc = json.loads(out)
    zero = str(data / "circle" / "zero.png")
    assert code == 1 and {"path": zero, "reason": "empty file (0 bytes)"} in doc["skipped"]
    assert any(zero in p for p in doc["problems"]) and "warning:" in err


# -- 9. the output path is checked before the work; computed results are never lost -----------------------


def test_predict_json_with_an_unwritable_csv_fails_before_the_work(capsys, checkpoint, demo_dir):
    image = next((demo_dir / "circle").glob("*.png"))
    code, out, err = run_cli(capsys, "predict", checkpoint, image, "--json", "--csv", "/sys/x.csv")
    assert code == 2 and out == "" and err.startswith("error: --csv /sys/x.csv: cannot write there")
    assert len(err.strip().splitlines()) == 1


def test_predict_json_is_printed_even_when_the_csv_fails_at_the_end(
    capsys, checkpoint, demo_dir, monkeypatch
):
    from resnet_gui.engine.infer import predict

    def fail(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(predict, "write_predictions_csv", fail)
    image = next((demo_dir / "circle").glob("*.png"))
    code, out, err = run_cli(
        capsys, "predict", checkpoint, image, "--json", "--csv", demo_dir.parent / "p.csv", "--device", "cpu"
    )
    assert code == 2 and json.loads(out)["results"][0]["topk"]
    assert "No space left on device (the results are above)" in err


# -- 10. a stopped run exits with its own code -------------------------------------------------------------


def test_a_train_stopped_by_ctrl_c_exits_130_with_stopped_true(capsys, demo_dir, tmp_path, monkeypatch):
    from resnet_gui.cli import common
    from resnet_gui.engine import events as ev

    original = common.TrainProgress.__call__

    def press_ctrl_c(self, event):
        original(self, event)
        if isinstance(event, ev.StepDone):
            os.kill(os.getpid(), signal.SIGINT)  # the CLI's handler: stop after this batch

    monkeypatch.setattr(common.TrainProgress, "__call__", press_ctrl_c)
    args = ["--epochs", "3", *TRAIN[2:]]
    code, out, err = run_cli(capsys, "train", demo_dir, *args, "--out", tmp_path / "runs", "--json")
    assert code == EXIT_STOPPED == 130
    assert json.loads(out)["stopped"] is True and "stopping after this batch" in err


def test_sigterm_stops_training_like_ctrl_c_and_the_run_says_stopped(demo_dir, tmp_path):
    """A real `resnet-gui train` process, sent SIGTERM after its first epoch (items 3 and 10)."""
    data = _small(demo_dir, tmp_path / "data", n=6)
    cmd = [sys.executable, "-m", "resnet_gui", "train", str(data), "--epochs", "200", *TRAIN[2:]]
    cmd += ["--out", str(tmp_path / "runs")]
    proc = subprocess.Popen(
        cmd, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path
    )
    deadline = time.monotonic() + 300
    for line in proc.stderr:
        if line.startswith("epoch 1/"):
            break
        assert time.monotonic() < deadline
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 130, rest
    (run,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    assert json.loads((run / RUN_FILE).read_text())["status"] == "stopped"
    assert not [p for p in run.iterdir() if p.name.startswith(".tmp") or p.name.endswith(".tmp")]


# -- 11. each skipped file once on stderr -------------------------------------------------------------------


def test_each_skipped_file_is_printed_once(capsys, demo_dir, tmp_path):
    data = _small(demo_dir, tmp_path / "data")
    (data / "circle" / "broken.png").write_bytes(b"not a png")
    code, _, err = run_cli(capsys, "train", data, *TRAIN, "--val-split", "0", "--out", tmp_path / "runs")
    assert code == 1 and err.count("broken.png") == 1


# -- 12. hostile class names: escaped on the terminal, neutralised in the CSV ------------------------------

HOSTILE = ["\x1b]0;owned\x07\x1b[2J", '=HYPERLINK("http://x","y")', "+cmd", "\u202etxt.exe"]


def test_hostile_class_names_are_escaped_on_the_terminal_and_neutralised_in_the_csv(
    capsys, checkpoint, demo_dir, tmp_path
):
    bad = _rewrite_meta(checkpoint, tmp_path / "hostile.safetensors", classes=HOSTILE)
    images = sorted((demo_dir / "circle").glob("*.png"))[:2]
    code, out, _ = run_cli(capsys, "predict", bad, *images, "--topk", "4", "--device", "cpu")
    assert code == 0 and "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "\\x1b]0;owned\\x07" in out and "\\u202etxt.exe" in out
    code, _, _ = run_cli(
        capsys, "predict", bad, *images, "--topk", "4", "--device", "cpu", "--csv", tmp_path / "p.csv"
    )
    rows = list(csv.reader((tmp_path / "p.csv").read_text(encoding="utf-8").splitlines()))
    cells = [cell for row in rows[1:] for cell in (row[1], row[3])]
    assert cells and not [c for c in cells if c[:1] in ("=", "+", "-", "@")]
    assert any(c.startswith("'=HYPERLINK") or c.startswith("'+cmd") for c in cells)


def test_term_safe_keeps_text_and_escapes_controls():
    assert term_safe("ants, bees – ü") == "ants, bees – ü"
    assert term_safe("a\x1b[31mb\rc") == "a\\x1b[31mb\\x0dc"
    assert term_safe("l1\nl2", keep_newlines=True) == "l1\nl2"


def test_the_csv_journal_still_resumes_paths_that_look_like_formulas(
    capsys, checkpoint, demo_dir, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(next((demo_dir / "circle").glob("*.png")), tmp_path / "=a.png")
    code, _, err = run_cli(capsys, "predict", checkpoint, "=a.png", "--csv", "p.csv", "--device", "cpu")
    assert code == 0, err
    rows = list(csv.reader(Path("p.csv").read_text(encoding="utf-8").splitlines()))
    assert rows[1][0] == "'=a.png"  # shown as text by a spreadsheet
    code, _, err = run_cli(capsys, "predict", checkpoint, "=a.png", "--csv", "p.csv", "--device", "cpu")
    assert code == 0 and "1 already there" in err  # and still recognised when the run continues
    assert len(Path("p.csv").read_text(encoding="utf-8").splitlines()) == 2


# -- 13. a stale DISPLAY is one line, not Qt's abort ------------------------------------------------------


def test_a_stale_display_is_one_clear_line_not_a_qt_abort(tmp_path):
    if Path("/tmp/.X11-unix/X99").exists():
        pytest.skip("an X server runs on :99 here")
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(DISPLAY=":99", PYTHONPATH=str(ROOT))
    for platform in (None, "xcb"):
        if platform:
            env["QT_QPA_PLATFORM"] = platform
        proc = subprocess.run(
            [sys.executable, "-m", "resnet_gui", "gui"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: cannot connect to the X display ':99'")


def test_display_problem_is_none_offscreen_or_when_the_display_answers():
    from resnet_gui.ui.xcb_check import display_problem

    env = {"DISPLAY": ":99"}
    assert display_problem({**env, "QT_QPA_PLATFORM": "offscreen"}, system="linux") is None
    assert display_problem(env, system="linux", connects=lambda d: True) is None
    assert "xvfb-run" in display_problem(env, system="linux", connects=lambda d: False)


# -- 14. the minor ones ------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["predict", "eval", "export", "bench", "inspect-none"])
def test_a_folder_given_as_a_checkpoint_says_it_is_a_folder(capsys, tmp_path, command, demo_dir):
    argv = {
        "predict": ["predict", tmp_path, demo_dir / "circle"],
        "eval": ["eval", tmp_path, demo_dir],
        "export": ["export", tmp_path, "--format", "onnx"],
        "bench": ["bench", tmp_path],
        "inspect-none": ["train", demo_dir, "--resume", tmp_path],
    }[command]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and "is a folder" in err and "does not exist" not in err


@pytest.mark.parametrize("option", [["--img-size", "0"], ["--num-classes", "0"], ["--img-size", "99999"]])
def test_inspect_refuses_out_of_range_sizes(capsys, option):
    code, out, err = run_cli(capsys, "inspect", "resnet18", *option)
    assert code == 2 and out == "" and "out of range" in err


def test_a_huge_seed_is_a_clear_error(capsys, demo_dir, tmp_path):
    code, _, err = run_cli(capsys, "train", demo_dir, *TRAIN, "--seed", str(10**23), "--out", tmp_path)
    assert code == 2 and "seed 100000000000000000000000 is out of range" in err


def test_export_to_a_folder_says_so(capsys, checkpoint, tmp_path):
    code, _, err = run_cli(capsys, "export", checkpoint, "--format", "onnx", "--out", tmp_path)
    assert code == 2 and "is a folder; give a file name" in err and "IsADirectoryError" not in err
