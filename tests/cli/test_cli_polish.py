"""The command line as a person meets it: `train --help` describes every option with its default, a
long epoch is not silent in a log, and `eval` on the training folder says its figure includes the
training images."""

from __future__ import annotations

import io
import json

from resnet_gui.cli import main
from resnet_gui.cli.common import TrainProgress
from resnet_gui.cli.parser import build_parser
from resnet_gui.engine import events as ev
from resnet_gui.engine.config import DEFAULTS


def _train_parser():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices["train"]


def test_every_train_option_has_a_description_and_its_default():
    train = _train_parser()
    text = train.format_help()
    for action in train._actions:
        if action.dest in ("help", "debug"):
            continue
        assert action.help, f"{action.option_strings or action.dest} has no description"
    for flag, default in (
        ("--epochs", DEFAULTS.epochs),
        ("--batch-size", DEFAULTS.batch_size),
        ("--val-split", 0.2),
    ):
        assert f"(default: {default})" in " ".join(text.split()), flag
    assert "(default: none)" in " ".join(text.split())  # --pretrained
    assert train.get_default("epochs") == DEFAULTS.epochs  # the GUI form starts from the same constant


def _step(step: int, steps: int = 100) -> ev.StepDone:
    return ev.StepDone(1, 5, step, steps, 1.25, 1e-3, 84.5, 2.0 * step, 600.0 - 2.0 * step)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_log_gets_a_throttled_progress_line_within_an_epoch():
    stream, clock = io.StringIO(), _Clock()  # not a terminal
    progress = TrainProgress(stream, every_s=10.0, clock=clock)
    for step in range(1, 100):
        clock.now = step * 0.5  # a step every half second: 49.5 s in all
        progress(_step(step))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4  # at 10, 20, 30 and 40 s: not one per step, and not silent
    assert lines[0] == "epoch 1/5 step 20/100  loss 1.250  84.5 img/s  ETA 09:20"
    assert "\r" not in stream.getvalue()  # no bar redrawn in place in a log


def test_a_terminal_gets_the_bar_in_place_not_extra_lines():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream, clock = Tty(), _Clock()
    progress = TrainProgress(stream, every_s=10.0, clock=clock)
    for step in range(1, 50):
        clock.now = step * 1.0
        progress(_step(step))
    text = stream.getvalue()
    assert "\n" not in text and text.count("\r") == 49
    assert "84.5 img/s" in text and "ETA" in text


def test_eval_on_the_training_folder_warns_that_it_counts_training_images(capsys, checkpoint, demo_dir):
    code = main(["eval", str(checkpoint), str(demo_dir), "--json", "--workers", "0"])
    out, err = capsys.readouterr()
    assert code == 0
    doc = json.loads(out)  # stdout stays one JSON object
    assert f"the {doc['num_images']} images counted are all of {demo_dir}" in err
    assert "which this model was trained on" in err and "optimistic" in err
    assert err.startswith("warning: ")
