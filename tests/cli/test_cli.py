"""The command line contract (DESIGN.md section 2): JSON on stdout, progress on stderr, exit codes, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from resnet_gui.cli import _normalise_argv, main
from tests._fixtures import INSPECT_KEYS, INSPECT_LAYER_KEYS

TRAIN_KEYS = {
    "checkpoint",
    "arch",
    "classes",
    "epochs",
    "best_val_acc",
    "val_acc",
    "val_loss",
    "train_loss",
    "wall_s",
    "train_img_per_s",
    "device",
    "stopped",
    "skipped",
    "history",
}


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_demo_data_then_train_json(capsys, tmp_path):
    code, _, err = run_cli(capsys, "demo-data", tmp_path / "d", "--per-class", "6", "--size", "32")
    assert code == 0 and "wrote demo dataset" in err
    code, out, err = run_cli(
        capsys,
        "train",
        tmp_path / "d",
        "--epochs",
        "1",
        "--img-size",
        "32",
        "--batch-size",
        "8",
        "--workers",
        "0",
        "--out",
        tmp_path / "runs",
        "--json",
    )
    assert code == 0
    result = json.loads(out)  # stdout holds exactly one JSON object
    assert result.keys() >= TRAIN_KEYS
    assert result["classes"] == ["circle", "square", "star", "triangle"] and result["epochs"] == 1
    assert Path(result["checkpoint"]).is_file() and result["checkpoint"].endswith(".safetensors")
    assert len(result["history"]) == 1 and result["stopped"] is False
    assert "epoch 1/1" in err and "training resnet18" in err  # progress went to stderr
    assert result["evaluation"]["num_images"] > 0 and "best model on" in err  # evaluated at the end


def test_predict_json_and_partial_failure_exit_code(capsys, checkpoint, demo_dir, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    code, out, err = run_cli(
        capsys,
        "predict",
        checkpoint,
        demo_dir / "circle" / "circle_0000.png",
        bad,
        "--topk",
        "2",
        "--json",
        "--csv",
        tmp_path / "p.csv",
    )
    assert code == 1  # some inputs failed, still reported
    doc = json.loads(out)
    assert doc["device"] == "cpu" and doc["device_name"].startswith("CPU")
    ok, failed = doc["results"]
    assert len(ok["topk"]) == 2 and set(ok["topk"][0]) == {"class", "prob"}
    assert set(ok["timing_ms"]) == {"load", "preprocess", "forward", "total"}
    assert failed["path"] == str(bad) and "not an image" in failed["error"]
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("path,class,prob")


def test_predict_folder_expands(capsys, checkpoint, demo_dir):
    code, out, _ = run_cli(capsys, "predict", checkpoint, demo_dir / "star", "--json")
    assert code == 0 and len(json.loads(out)["results"]) == 12


def test_eval_json(capsys, checkpoint, demo_dir):
    code, out, _ = run_cli(capsys, "eval", checkpoint, demo_dir, "--json", "--workers", "0")
    doc = json.loads(out)
    assert code == 0
    assert {"accuracy", "loss", "classes", "confusion_matrix", "per_class", "misclassified"} <= doc.keys()
    assert set(doc["per_class"][0]) == {"class", "precision", "recall", "f1", "support"}


def test_inspect_json_matches_contract(capsys):
    code, out, _ = run_cli(capsys, "inspect", "resnet18", "--num-classes", "10", "--img-size", "64", "--json")
    doc = json.loads(out)
    assert code == 0
    assert set(doc) >= INSPECT_KEYS
    assert doc["num_classes"] == 10 and doc["img_size"] == 64
    assert set(doc["layers"][0]) == INSPECT_LAYER_KEYS
    assert doc["params_total"] == 11_181_642  # torchvision resnet18 with a 10-class fc


@pytest.mark.parametrize(
    "argv, message",
    [
        (["predict", "missing.safetensors", "x.png"], "does not exist"),
        (["train", "/nonexistent/folder"], "/nonexistent/folder"),
        (["inspect", "resnet19"], "resnet19"),
    ],
)
def test_errors_are_one_line_exit_2(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_an_image_given_as_checkpoint_is_named_as_such(capsys, demo_dir):
    png = demo_dir / "circle" / "circle_0000.png"
    code, out, err = run_cli(capsys, "predict", png, png)
    assert code == 2 and "is not a model checkpoint" in err and "pickled" not in err


def test_usage_error_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train"])  # DATA_DIR missing
    assert exc.value.code == 2


def test_no_arguments_or_a_folder_opens_the_app():
    assert _normalise_argv([]) == ["gui"]
    assert _normalise_argv(["photos/"]) == ["gui", "photos/"]
    assert _normalise_argv(["--debug", "photos/"]) == ["--debug", "gui", "photos/"]
    assert _normalise_argv(["train", "x"]) == ["train", "x"]


def test_entry_point_runs_without_traceback(tmp_path):
    """`python -m resnet_gui` is the console script; a bad input gives no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "resnet_gui", "predict", str(tmp_path / "nope.pt"), "a.png"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and "Traceback" not in proc.stderr


def test_predict_csv_streams_and_resumes(capsys, checkpoint, demo_dir, tmp_path):
    """`predict FOLDER --csv F` writes one row per image; a second run finds them all there."""
    csv_file = tmp_path / "out.csv"
    bad = tmp_path / "in" / "bad.png"
    bad.parent.mkdir()
    bad.write_bytes(b"not an image")
    code, out, err = run_cli(
        capsys, "predict", checkpoint, demo_dir / "star", bad, "--csv", csv_file, "--batch-size", "5"
    )
    assert code == 1 and out == ""  # one input failed, still reported
    assert "wrote 13 rows" in err and "1 of 13 inputs failed" in err
    rows = csv_file.read_text().splitlines()
    assert len(rows) == 14 and rows[0].startswith("path,class,prob")
    assert sum(1 for r in rows if "not an image" in r) == 1
    code, _, err = run_cli(capsys, "predict", checkpoint, demo_dir / "star", bad, "--csv", csv_file)
    assert code == 0 and "wrote 0 rows" in err and "13 already there" in err
    assert csv_file.read_text().splitlines() == rows


def test_predict_csv_nproc_2_matches_one_process(capsys, checkpoint, demo_dir, tmp_path):
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    assert run_cli(capsys, "predict", checkpoint, demo_dir / "star", "--csv", one, "--device", "cpu")[0] == 0
    code, out, err = run_cli(
        capsys, "predict", checkpoint, demo_dir / "star", "--csv", two, "--nproc", "2", "--device", "cpu"
    )
    assert code == 0 and out == "" and "predicting in 2 processes" in err and "wrote 12 rows" in err
    first = [r.split(",")[:3] for r in one.read_text().splitlines()]
    assert [r.split(",")[:3] for r in two.read_text().splitlines()] == first  # path, class, prob


@pytest.mark.parametrize(
    "extra, message", [(("--json",), "with --csv alone"), (("--nproc", "0"), "at least 1")]
)
def test_predict_nproc_usage_errors(capsys, checkpoint, demo_dir, tmp_path, extra, message):
    argv = ["predict", checkpoint, demo_dir / "star", "--csv", tmp_path / "p.csv", "--nproc", "2", *extra]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == "" and message in err


def test_predict_csv_into_a_missing_folder_fails_before_the_work(capsys, checkpoint, demo_dir, tmp_path):
    for extra in ((), ("--json",)):
        code, out, err = run_cli(
            capsys, "predict", checkpoint, demo_dir / "star", "--csv", tmp_path / "nope" / "p.csv", *extra
        )
        assert code == 2 and out == "" and "does not exist" in err


def test_every_train_option_reaches_the_config():
    """The walk from an option to the engine: `--lr` is TrainConfig.lr, `--out` its out_dir, and an option
    left out keeps the engine's default (the parser's defaults are TrainConfig's)."""
    from resnet_gui.cli.parser import build_parser
    from resnet_gui.cli.train import config_from_args
    from resnet_gui.engine.config import DEFAULTS

    argv = ["train", "d", "--arch", "resnet34", "--epochs", "3", "--batch-size", "8", "--lr", "0.01"]
    argv += ["--img-size", "48", "--val-split", "0.3", "--freeze-backbone", "--augment", "strong"]
    argv += ["--balance", "--device", "cpu", "--workers", "1", "--seed", "7", "--out", "o", "--sync-bn"]
    cfg = config_from_args(build_parser().parse_args(argv))
    assert (cfg.data_dir, cfg.arch, cfg.epochs, cfg.batch_size, cfg.lr) == ("d", "resnet34", 3, 8, 0.01)
    assert (cfg.img_size, cfg.val_split, cfg.freeze_backbone, cfg.augment) == (48, 0.3, True, "strong")
    assert (cfg.balance, cfg.device, cfg.workers, cfg.seed, cfg.out_dir, cfg.sync_bn) == (
        True,
        "cpu",
        1,
        7,
        "o",
        True,
    )
    plain = config_from_args(build_parser().parse_args(["train", "d"]))
    assert plain == DEFAULTS.__class__(data_dir="d")
