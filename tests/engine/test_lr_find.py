"""The learning-rate finder (engine/train/lr_find.py) and `resnet-gui lr-find`."""

from __future__ import annotations

import json
import math

import pytest
import torch

from resnet_gui.cli import main
from resnet_gui.engine.config import LR_SCRATCH, TrainConfig
from resnet_gui.engine.errors import EngineError
from resnet_gui.engine.train.lr_find import LrFindStep, lr_find, smooth, steepest_index, valley_index
from tests._fixtures import TINY


def test_smoothing_is_bias_corrected():
    assert smooth([2.0] * 5) == pytest.approx([2.0] * 5)  # no pull towards 0 at the start
    s = smooth([1.0, 1.0, 5.0])
    assert s[0] == 1.0 and 1.0 < s[2] < 5.0


def test_valley_and_steepest_on_a_known_curve():
    lrs = [10 ** (-6 + i * 0.1) for i in range(60)]  # 1e-6 .. ~1e0
    # flat, then falling from 1e-4 to 1e-2, then blowing up
    losses = [
        2.0 if lr < 1e-4 else (2.0 - 0.5 * math.log10(lr / 1e-4) if lr < 1e-2 else 1.0 + 3 * (lr - 1e-2))
        for lr in lrs
    ]
    losses = [
        x - 1e-4 * i for i, x in enumerate(losses)
    ]  # strictly falling where flat, like real noise-free data
    v = valley_index(losses)
    assert 1e-5 < lrs[v] < 1e-2
    s = steepest_index(lrs, losses)
    assert 1e-4 <= lrs[s] < 1e-2
    assert valley_index([1.0, 0.9]) is None and steepest_index([1e-3, 1e-2], [1.0, 0.9]) is None


def test_sweep_on_the_training_setup(demo_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng_before = torch.get_rng_state()
    events: list = []
    cfg = TrainConfig(data_dir=str(demo_dir), **TINY)
    result = lr_find(cfg, start_lr=1e-5, end_lr=1e-1, num_steps=8, on_event=events.append)
    assert 2 <= len(result.lrs) <= 8 and len(result.losses) == len(result.smoothed) == len(result.lrs)
    assert result.lrs[0] == pytest.approx(1e-5)
    ratios = [b / a for a, b in zip(result.lrs, result.lrs[1:], strict=False)]
    assert ratios == pytest.approx([10 ** (4 / 7)] * len(ratios))  # exponential, 8 steps over 4 decades
    assert all(math.isfinite(x) and x > 0 for x in result.losses)
    assert result.suggestion is None or 1e-5 <= result.suggestion <= 1e-1
    assert result.default_lr == LR_SCRATCH and result.rule == "valley"
    assert any(isinstance(e, LrFindStep) for e in events) and events[-1].step == len(result.lrs)
    assert torch.equal(torch.get_rng_state(), rng_before)  # the caller's RNG is left alone
    assert list(tmp_path.iterdir()) == []  # nothing written
    assert json.dumps(result.to_json())


def test_the_sweep_ends_when_the_loss_diverges(demo_dir):
    cfg = TrainConfig(data_dir=str(demo_dir), **TINY)
    result = lr_find(cfg, start_lr=1e-2, end_lr=1e6, num_steps=40)
    assert result.diverged and len(result.lrs) < 40


def test_bad_range_is_refused(demo_dir):
    with pytest.raises(EngineError, match="start LR"):
        lr_find(TrainConfig(data_dir=str(demo_dir), **TINY), start_lr=1.0, end_lr=1e-3)


def test_cli_lr_find_json(demo_dir, capsys):
    argv = ["lr-find", str(demo_dir), "--img-size", "32", "--batch-size", "16", "--workers", "0"]
    assert main([*argv, "--steps", "6", "--start-lr", "1e-4", "--end-lr", "1", "--json"]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc.keys() >= {"lrs", "losses", "smoothed", "suggestion", "default_lr", "rule", "diverged"}
    assert doc["arch"] == "resnet18" and doc["img_size"] == 32 and "sweeping" in err
    assert main([*argv, "--steps", "6", "--start-lr", "1e-4", "--end-lr", "1"]) == 0
    out, err = capsys.readouterr()
    assert "lr" in err and ("suggested learning rate" in err or "too short" in err)
