"""`--pretrained imagenet|URL` downloads, and `imagenet:ARCH` wherever a checkpoint goes (loopback server,
temporary $TORCH_HOME, weights the tests make)."""

from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path

import pytest
import torch

from resnet_gui.cli import main
from tests._weights_server import closed_port_url, random_resnet18_bytes, serve_as_imagenet

random_weights = functools.lru_cache(maxsize=4)(random_resnet18_bytes)


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def imagenet18(torch_home: Path) -> Path:
    """A random-init resnet18 under torchvision's own file name in the temporary cache."""
    torch_home.mkdir(parents=True, exist_ok=True)
    path = torch_home / "resnet18-f37072fd.pth"
    path.write_bytes(random_weights(1000))
    return path


TINY_TRAIN = ("--epochs", "1", "--img-size", "32", "--batch-size", "16", "--workers", "0", "--json")


@pytest.mark.slow
def test_train_pretrained_url_downloads_once(capsys, server, torch_home, demo_dir, tmp_path):
    name = server.add("lab-backbone", random_weights(10))
    url = server.url(name)
    code, out, err = run_cli(capsys, "train", demo_dir, "--pretrained", url, "--out", tmp_path, *TINY_TRAIN)
    assert code == 0, err
    assert f"downloading {url}" in err and (torch_home / name).is_file()
    assert json.loads(out)["epochs"] == 1
    code, _, err = run_cli(capsys, "train", demo_dir, "--pretrained", url, "--out", tmp_path, *TINY_TRAIN)
    assert code == 0 and "downloading" not in err
    assert server.requests[name] == 1  # the second run used the cache


def test_train_pretrained_imagenet_downloads_when_missing(capsys, server, torch_home, monkeypatch):
    name = serve_as_imagenet(monkeypatch, server, random_weights(1000))
    # stop right after the download: the training itself is another test's business
    monkeypatch.setattr("resnet_gui.engine.train.loop.train", _no_training)
    code, _, err = run_cli(capsys, "train", "somewhere", "--pretrained", "imagenet")
    assert "downloading" in err and (torch_home / name).is_file()
    assert "training was called" in err and code == 2
    run_cli(capsys, "train", "somewhere", "--pretrained", "imagenet")
    assert server.requests[name] == 1


def _no_training(*args, **kwargs):
    from resnet_gui.engine.errors import EngineError

    raise EngineError("training was called")


def test_offline_pretrained_imagenet_is_a_clear_fast_error(capsys, torch_home, monkeypatch):
    monkeypatch.setenv("RESNET_GUI_WEIGHTS_MIRROR", closed_port_url("").rstrip("/"))
    code, _, err = run_cli(capsys, "train", "somewhere", "--pretrained", "imagenet")
    assert code == 2
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: cannot download http://127.0.0.1:") and "resnet18-f37072fd.pth" in line
    assert str(torch_home) in line and "refused" in line
    assert not torch_home.exists() or not any(torch_home.iterdir())


def test_pretrained_url_http_error(capsys, server, torch_home):
    code, _, err = run_cli(capsys, "train", "somewhere", "--pretrained", server.url("missing-1234abcd.pth"))
    assert code == 2 and "HTTP 404" in err and server.url("missing-1234abcd.pth") in err


def test_predict_imagenet_spec_uses_category_names(capsys, imagenet18, demo_dir):
    image = next(demo_dir.rglob("*.png"))
    code, out, err = run_cli(capsys, "predict", "imagenet:resnet18", image, "--json", "--topk", "3")
    assert code == 0, err
    result = json.loads(out)
    assert result["checkpoint"] == "imagenet:resnet18"
    import torchvision

    names = set(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"])
    tops = result["results"][0]["topk"]
    assert len(tops) == 3 and all(t["class"] in names for t in tops)


@pytest.mark.slow
def test_imagenet_prediction_matches_torchvision_preprocessing(imagenet18, demo_dir):
    """Resize 256 / centre crop 224 / ImageNet mean-std, exactly as torchvision's weights.transforms()."""
    import torchvision
    from PIL import Image

    from resnet_gui.engine.infer.predict import Predictor

    image = Image.open(next(demo_dir.rglob("*.png"))).convert("RGB").resize((300, 260))
    predictor = Predictor("imagenet:resnet18", device="cpu", warmup=False)
    ours = predictor.predict_one(image, topk=1).topk[0]
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    model = torchvision.models.resnet18()
    model.load_state_dict(torch.load(imagenet18, weights_only=True))
    with torch.no_grad():
        probs = model.eval()(weights.transforms()(image)[None]).softmax(1)[0]
    assert ours[0] == weights.meta["categories"][int(probs.argmax())]
    assert ours[1] == pytest.approx(float(probs.max()), abs=2e-3)


def test_imagenet_spec_missing_weights_offline(capsys, torch_home, monkeypatch, demo_dir):
    monkeypatch.setenv("RESNET_GUI_WEIGHTS_MIRROR", closed_port_url("").rstrip("/"))
    code, _, err = run_cli(capsys, "predict", "imagenet:resnet18", next(demo_dir.rglob("*.png")))
    assert code == 2 and "cannot download" in err and str(torch_home) in err


def test_eval_imagenet_on_other_classes_says_why(capsys, imagenet18, demo_dir):
    code, _, err = run_cli(capsys, "eval", "imagenet:resnet18", demo_dir)
    assert code == 2
    assert "not ImageNet categories (circle, square, star, triangle)" in err
    assert "tench" not in err  # the 1,000 names are not listed


@pytest.mark.slow
def test_eval_imagenet_on_folders_named_after_categories(capsys, imagenet18, demo_dir, tmp_path):
    for category, shape in (("goldfish", "circle"), ("tench", "square")):
        (tmp_path / category).mkdir()
        for p in list((demo_dir / shape).glob("*.png"))[:2]:
            (tmp_path / category / p.name).write_bytes(p.read_bytes())
    code, out, err = run_cli(capsys, "eval", "imagenet:resnet18", tmp_path, "--json", "--workers", "0")
    assert code == 0, err
    result = json.loads(out)
    assert result["num_images"] == 4
    assert {"goldfish", "tench"} <= set(result["classes"]) and len(result["classes"]) <= 6  # not 1,000
    n = len(result["classes"])
    assert len(result["confusion_matrix"]) == n and all(len(r) == n for r in result["confusion_matrix"])
    assert sum(map(sum, result["confusion_matrix"])) == 4  # no count lost


def test_inspect_imagenet_spec_needs_no_weights(capsys, torch_home):
    code, out, _ = run_cli(capsys, "inspect", "imagenet:resnet50", "--json")
    assert code == 0
    desc = json.loads(out)
    assert desc["arch"] == "resnet50" and desc["num_classes"] == 1000 and desc["img_size"] == 224
    code, _, err = run_cli(capsys, "inspect", "imagenet:resnet99")
    assert code == 2 and "imagenet:resnet18" in err


@pytest.mark.slow
def test_export_imagenet_spec(capsys, imagenet18, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "export", "imagenet:resnet18", "--format", "torchscript")
    assert code == 0, err
    out = tmp_path / "imagenet-resnet18.torchscript.pt"
    assert out.is_file()
    files = {"classes.txt": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # jit is deprecated upstream
        torch.jit.load(str(out), _extra_files=files)
    assert files["classes.txt"].decode().splitlines()[:2] == ["tench", "goldfish"]
