"""`train --patience N` and the other recipe options (issue 17) reach the TrainConfig."""

from __future__ import annotations

from resnet_gui.cli.parser import build_parser
from resnet_gui.cli.train import config_from_args
from resnet_gui.engine.config import DEFAULTS


def test_recipe_options_reach_the_config():
    argv = ["train", "d", "--patience", "4", "--monitor", "val_loss", "--schedule", "linear"]
    argv += ["--ema", "--progressive-resize", "--flip-tta", "--last-every", "2"]
    cfg = config_from_args(build_parser().parse_args(argv))
    assert (cfg.patience, cfg.monitor, cfg.schedule, cfg.last_every) == (4, "val_loss", "linear", 2)
    assert cfg.ema and cfg.progressive_resize and cfg.flip_tta
    off = config_from_args(build_parser().parse_args(["train", "d", "--no-ema", "--no-progressive-resize"]))
    assert not off.ema and not off.progressive_resize
    plain = config_from_args(build_parser().parse_args(["train", "d"]))
    assert (plain.patience, plain.ema, plain.progressive_resize) == (
        DEFAULTS.patience,
        DEFAULTS.ema,
        DEFAULTS.progressive_resize,
    )
