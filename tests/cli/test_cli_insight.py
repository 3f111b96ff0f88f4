"""`predict --cam`, `bench` and `export` from the command line."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from resnet_gui.cli import main


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_cam_writes_one_overlay_per_input(capsys, checkpoint, demo_dir, tmp_path):
    inputs = [demo_dir / "star" / "star_0001.png", demo_dir / "circle" / "circle_0002.png"]
    (tmp_path / "broken.png").write_text("not an image")
    out_dir = tmp_path / "cams"
    code, out, err = run_cli(
        capsys, "predict", checkpoint, *inputs, tmp_path / "broken.png", "--cam", out_dir, "--json"
    )
    assert code == 1  # the broken file is reported, the others still explained
    results = json.loads(out)["results"]
    assert "cam" not in results[2] and results[2]["error"]
    for src, r in zip(inputs, results[:2], strict=True):
        assert r["cam"] == str(out_dir / f"{src.stem}_cam.png")
        cam = Image.open(r["cam"])
        assert cam.size == Image.open(src).size and cam.mode == "RGB"
        assert not np.array_equal(np.asarray(cam), np.asarray(Image.open(src).convert("RGB")))
    assert sorted(p.name for p in out_dir.iterdir()) == ["circle_0002_cam.png", "star_0001_cam.png"]
    assert "Grad-CAM" in err


def test_predict_cam_keeps_repeated_names_apart(capsys, checkpoint, demo_dir, tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "x.png").write_bytes((demo_dir / "star" / "star_0001.png").read_bytes())
    code, _, _ = run_cli(
        capsys, "predict", checkpoint, tmp_path / "a", tmp_path / "b", "--cam", tmp_path / "c"
    )
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["x-2_cam.png", "x_cam.png"]


def test_bench_json_and_table(capsys, checkpoint):
    code, out, _ = run_cli(
        capsys, "bench", checkpoint, "--batch-sizes", "1,2", "--repeats", "3", "--device", "cpu", "--json"
    )
    assert code == 0
    r = json.loads(out)
    assert r["device"] == "cpu" and r["stopped"] is False
    assert [(row["precision"], row["batch_size"]) for row in r["rows"]] == [("fp32", 1), ("fp32", 2)]
    for row in r["rows"]:
        assert 0 < row["p50_ms"] <= row["p95_ms"] and row["runs"] == 3
        assert row["peak_mem_mb"] is None  # measured on CUDA only
    code, out, _ = run_cli(
        capsys, "bench", checkpoint, "--batch-sizes", "1", "--repeats", "2", "--device", "cpu"
    )
    assert code == 0 and "p95" in out and "fp32" in out
    code, _, err = run_cli(capsys, "bench", checkpoint, "--batch-sizes", "1,x")
    assert code == 2 and "--batch-sizes" in err


def test_export_both_formats(capsys, checkpoint, tmp_path):
    from tests._fixtures import read_export_metadata

    code, _, err = run_cli(
        capsys, "export", checkpoint, "--format", "torchscript", "--out", tmp_path / "m.pt"
    )
    assert code == 0 and "wrote" in err and (tmp_path / "m.pt").is_file()
    assert read_export_metadata(tmp_path / "m.pt")["arch"] == "resnet18"
    code, _, err = run_cli(capsys, "export", tmp_path / "missing.safetensors", "--format", "onnx")
    assert code == 2 and "does not exist" in err
