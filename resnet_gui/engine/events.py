"""Events a long engine call reports through `on_event(event)`.

Small frozen dataclasses: the CLI prints them, the app's worker re-emits them as Qt signals.
Epochs are 1-based. StepDone is throttled by the engine (a few per second, plus each epoch's last step).
A finished run with a validation split ends with EvalStarted/EvalDone (the best model evaluated) before RunFinished.
`event_to_json` / `event_from_json` turn each event into a JSON-ready dict and back (the training child
process streams them as JSON lines, engine/train/runtime.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints


@dataclass(frozen=True)
class RunStarted:
    arch: str
    device: str
    device_name: str
    classes: list[str]
    num_train: int
    num_val: int
    epochs: int
    start_epoch: int
    steps_per_epoch: int
    img_size: int
    out_dir: str
    problems: list[str] = field(default_factory=list)  # what scan_dataset found wrong with the data


@dataclass(frozen=True)
class StepDone:
    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float
    lr: float
    img_per_s: float
    elapsed_s: float
    eta_s: float


@dataclass(frozen=True)
class EpochDone:
    epoch: int
    epochs: int
    train_loss: float
    train_acc: float
    val_loss: float | None
    val_acc: float | None
    lr: float
    epoch_s: float
    img_per_s: float
    is_best: bool
    eta_s: float


@dataclass(frozen=True)
class CheckpointSaved:
    path: str
    kind: str  # "best" | "last"
    epoch: int
    val_acc: float | None


@dataclass(frozen=True)
class ImageSkipped:
    path: str
    reason: str


@dataclass(frozen=True)
class RunFinished:
    result: Any  # TrainResult (kept as Any to avoid an import cycle)


@dataclass(frozen=True)
class RunFailed:
    error: str


@dataclass(frozen=True)
class EvalStarted:
    checkpoint: str  # the model being evaluated (the run's best)
    num_images: int


@dataclass(frozen=True)
class EvalDone:
    result: Any  # EvalResult, per-image records included (kept as Any, like RunFinished)


# -- JSON lines (the training child process streams events to the app this way) ---------------------------

#: Every event class by name: what `event_from_json` can rebuild.
EVENT_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        RunStarted,
        StepDone,
        EpochDone,
        CheckpointSaved,
        ImageSkipped,
        RunFinished,
        RunFailed,
        EvalStarted,
        EvalDone,
    )
}


def _result_types() -> dict[type, type]:
    """The dataclass behind each `result: Any` field. Imported late: evaluate.py loads torch."""
    from resnet_gui.engine.config import TrainResult
    from resnet_gui.engine.evaluate import EvalResult

    return {RunFinished: TrainResult, EvalDone: EvalResult}


def event_to_json(event: object) -> dict:
    """`{"type": <class name>, "data": {field: value}}`; nested dataclasses become dicts (JSON-ready)."""
    name = type(event).__name__
    if EVENT_TYPES.get(name) is not type(event):
        raise TypeError(f"not an engine event: {event!r}")
    return {"type": name, "data": asdict(event)}


def event_from_json(data: dict) -> object:
    """The event `event_to_json` described, with its result rebuilt as TrainResult / EvalResult."""
    cls = EVENT_TYPES.get(data.get("type", ""))
    if cls is None:
        raise ValueError(f"unknown event type {data.get('type')!r}")
    fields_ = dict(data.get("data") or {})
    result_cls = _result_types().get(cls)
    if result_cls is not None and isinstance(fields_.get("result"), dict):
        fields_["result"] = from_plain(result_cls, fields_["result"])
    return from_plain(cls, fields_)


def from_plain(tp: Any, value: Any) -> Any:
    """Rebuild a value of type `tp` from what `asdict` + JSON made of it: dataclasses (nested too, also
    inside lists, dicts and optionals) from dicts, tuples from lists. Unknown dict keys are ignored."""
    if value is None:
        return None
    if is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            return value
        try:
            hints = get_type_hints(tp)
        except (NameError, TypeError):  # an annotation that cannot be resolved: take the values as they are
            hints = {}
        known = {f.name for f in fields(tp)}
        return tp(**{k: from_plain(hints.get(k, Any), v) for k, v in value.items() if k in known})
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, UnionType):
        for arg in args:
            if arg is type(None):
                continue
            if (is_dataclass(arg) and isinstance(value, dict)) or get_origin(arg) in (list, tuple, dict):
                return from_plain(arg, value)
        return value
    if origin is list and isinstance(value, list):
        return [from_plain(args[0] if args else Any, v) for v in value]
    if origin is tuple and isinstance(value, (list, tuple)):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_plain(args[0], v) for v in value)
        if args and len(args) == len(value):
            return tuple(from_plain(a, v) for a, v in zip(args, value, strict=True))
        return tuple(value)
    if origin is dict and isinstance(value, dict):
        vt = args[1] if len(args) == 2 else Any
        return {k: from_plain(vt, v) for k, v in value.items()}
    return value
