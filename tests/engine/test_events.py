"""Events survive the trip through JSON (the training child streams them as JSON lines)."""

from __future__ import annotations

import dataclasses
import inspect
import json

import pytest

from resnet_gui.engine import events as ev
from resnet_gui.engine.config import TrainResult
from resnet_gui.engine.evaluate import EvalResult


def _train_result() -> TrainResult:
    return TrainResult(
        checkpoint="/runs/a/best.safetensors",
        last_checkpoint="/runs/a/last.safetensors",
        arch="resnet18",
        classes=["circle", "square"],
        epochs=2,
        best_val_acc=0.75,
        val_acc=0.5,
        val_loss=None,
        train_loss=float("nan"),
        wall_s=3.25,
        train_img_per_s=120.5,
        device="cpu",
        device_name="CPU, 2 threads",
        img_size=32,
        stopped=True,
        skipped=[{"path": "/d/bad.png", "reason": "truncated file"}],
        history=[{"epoch": 1, "train_loss": 1.0, "val_acc": None}],
        evaluation={"accuracy": 0.5, "confusion_matrix": [[1, 0], [1, 0]]},
    )


def _eval_result() -> EvalResult:
    return EvalResult(
        checkpoint="/runs/a/best.safetensors",
        data_dir="/d",
        split="val",
        accuracy=0.5,
        loss=0.69,
        classes=["circle", "square"],
        confusion_matrix=[[1, 0], [1, 0]],
        per_class=[{"class": "circle", "precision": 0.5, "recall": 1.0, "f1": 0.667, "support": 1}],
        misclassified=[{"path": "/d/s.png", "true": "square", "pred": "circle", "prob": 0.9}],
        num_images=2,
        device="cpu",
        device_name="CPU",
        skipped=[],
        images=[
            {
                "path": "/d/c.png",
                "true": "circle",
                "pred": "circle",
                "prob": 0.6,
                "true_prob": 0.6,
                "loss": 0.5,
            }
        ],
    )


EXAMPLES = [
    ev.RunStarted("resnet18", "cpu", "CPU", ["a", "b"], 10, 2, 3, 0, 1, 32, "/runs/a"),
    ev.StepDone(1, 3, 1, 1, 0.7, 1e-3, 55.0, 0.5, 9.5),
    ev.EpochDone(1, 3, 0.7, 0.5, None, None, 1e-3, 1.5, 50.0, True, 3.0),
    ev.CheckpointSaved("/runs/a/best.safetensors", "best", 1, 0.5),
    ev.ImageSkipped("/d/bad.png", "not an image"),
    ev.RunFinished(_train_result()),
    ev.RunFailed("the device ran out of memory"),
    ev.EvalStarted("/runs/a/best.safetensors", 2),
    ev.EvalDone(_eval_result()),
]


def _same(a, b) -> bool:
    """Equality that treats NaN as equal to NaN (a loss can be NaN)."""
    return json.dumps(dataclasses.asdict(a), sort_keys=True) == json.dumps(
        dataclasses.asdict(b), sort_keys=True
    )


def test_examples_cover_every_event_class():
    declared = {
        name
        for name, obj in inspect.getmembers(ev, inspect.isclass)
        if dataclasses.is_dataclass(obj) and obj.__module__ == ev.__name__
    }
    assert declared == set(ev.EVENT_TYPES) == {type(e).__name__ for e in EXAMPLES}


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_round_trip_through_a_json_line(event):
    line = json.dumps(ev.event_to_json(event))
    assert "\n" not in line
    back = ev.event_from_json(json.loads(line))
    assert type(back) is type(event)
    assert _same(back, event)
    if isinstance(event, ev.RunFinished):
        assert isinstance(back.result, TrainResult)
        assert back.result.to_json()["skipped"] == event.result.skipped
    if isinstance(event, ev.EvalDone):
        assert isinstance(back.result, EvalResult)
        assert back.result.summary() == event.result.summary()
        assert back.result.images == event.result.images


@dataclasses.dataclass
class Inner:
    x: int
    pair: tuple[int, str]


@dataclasses.dataclass
class Outer:
    one: Inner
    many: list[Inner]
    maybe: Inner | None = None
    by_name: dict[str, Inner] = dataclasses.field(default_factory=dict)


def test_nested_dataclasses_are_rebuilt():
    value = Outer(Inner(1, (2, "a")), [Inner(3, (4, "b"))], None, {"k": Inner(5, (6, "c"))})
    plain = json.loads(json.dumps(dataclasses.asdict(value)))
    assert ev.from_plain(Outer, plain) == value
    plain["maybe"] = {"x": 7, "pair": [8, "d"], "added_later": True}  # unknown keys are ignored
    assert ev.from_plain(Outer, plain).maybe == Inner(7, (8, "d"))


def test_unknown_types_are_refused():
    with pytest.raises(ValueError, match="unknown event type"):
        ev.event_from_json({"type": "Nope", "data": {}})
    with pytest.raises(TypeError):
        ev.event_to_json(_train_result())
