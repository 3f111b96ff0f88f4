"""Batch prediction at scale: `predict_folder_to_csv(predictor, paths, csv_path)`.

For folders of 10^4..10^6 images: decoding and preprocessing run in DataLoader workers with the
Predictor's own eval preprocessing (the numbers equal `Predictor.predict`'s), the model sees batches,
and each batch's rows are appended to the CSV and made durable (flush + fsync) before the next one.
Memory stays bounded: no image or result outlives its batch; only the list of paths and the set of
paths already done are kept.

Resumable: a second call with the same CSV skips every image that already has a row. A run that was
killed leaves a valid CSV: whole rows only (a torn last row is cut off at the next start), no duplicates.
Columns are predict.py's `CSV_HEADER`; `prediction_csv_row` formats one row for both writers.
Bad files become rows with an `error`, never a failed run.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from resnet_gui.engine.errors import EngineError, ImageLoadError
from resnet_gui.engine.infer.predict import (
    CSV_HEADER,
    Prediction,
    Predictor,
    csv_value,
    decode_for,
    expand_inputs,
    prediction_csv_row,
)

log = logging.getLogger(__name__)

PROGRESS_PER_S = 4.0


@dataclass(frozen=True)
class BatchProgress:
    """Where a batch prediction stands; `done` counts rows from earlier runs too."""

    done: int
    total: int
    errors: int  # error rows written by this run
    img_per_s: float  # this run's images (not the resumed ones) per second of wall time
    eta_s: float | None
    elapsed_s: float


@dataclass
class BatchSummary:
    """What one call did. `already_done`: rows found in the CSV and skipped (a resumed run)."""

    csv_path: str
    total: int
    written: int
    already_done: int
    errors: int
    stopped: bool
    wall_s: float
    img_per_s: float

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def of(
        cls,
        csv_path: str | Path,
        total: int,
        written: int,
        already: int,
        errors: int,
        stopped: bool,
        wall_s: float,
    ) -> BatchSummary:
        """The summary of a run that wrote `written` rows in `wall_s` seconds (the rate from those)."""
        rate = written / wall_s if wall_s > 0 else 0.0
        return cls(str(csv_path), total, written, already, errors, stopped, wall_s, rate)


# -- the CSV as a journal -----------------------------------------------------------------------------


def _key(path: str) -> str:
    return os.path.abspath(path)


def _last_complete_record_end(data: bytes) -> int:
    """Byte offset just past the last whole CSV record: a newline outside quotes (csv doubles quotes
    inside a quoted field, so an even count of quote characters so far means "outside")."""
    end = quotes = 0
    for i, b in enumerate(data):
        if b == 0x22:  # '"'
            quotes += 1
        elif b == 0x0A and quotes % 2 == 0:  # '\n'
            end = i + 1
    return end


def open_results_csv(csv_path: str | Path) -> set[str]:
    """Make `csv_path` ready to append to and return the paths (absolute) it already has rows for.

    A missing or empty file gets the header; a torn last record (a kill mid-write) is cut off; a file
    whose header is not ours is refused (EngineError) rather than overwritten.
    """
    path = Path(csv_path)
    header = ",".join(CSV_HEADER)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    except OSError as exc:
        raise EngineError(f"cannot read {path}: {exc.strerror or exc}") from exc
    end = _last_complete_record_end(data)
    try:
        if end == 0:  # nothing whole yet, not even the header
            if data.strip() and not header.startswith(data.decode("utf-8", "replace").strip()):
                raise EngineError(f"{path} is not a predictions CSV (its first line is not {header!r})")
            _write_durably(path, "wb", (header + "\r\n").encode("utf-8"))
            return set()
        if end < len(data):
            log.warning(
                "%s: cut off a torn last row (%d bytes) left by an interrupted run", path, len(data) - end
            )
            with open(path, "r+b") as fh:
                fh.truncate(end)
                fh.flush()
                os.fsync(fh.fileno())
    except OSError as exc:
        raise EngineError(f"cannot write {path}: {exc.strerror or exc}") from exc
    rows = csv.reader(io.StringIO(data[:end].decode("utf-8", "replace"), newline=""))
    first = next(rows, [])
    if tuple(first) != CSV_HEADER:
        raise EngineError(f"{path} is not a predictions CSV (its first line is not {header!r})")
    done = set()
    for row in rows:
        if len(row) == len(CSV_HEADER):
            done.add(_key(csv_value(row[0])))
        elif row:
            log.warning("%s: ignored a malformed row %r", path, row[:2])
    return done


def _write_durably(path: Path, mode: str, data: bytes) -> None:
    with open(path, mode) as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


class _RowWriter:
    """Appends whole batches of rows; each batch is on disk (fsync) before the next is predicted."""

    def __init__(self, path: Path):
        self.fh = open(path, "ab")  # noqa: SIM115 - closed by close()

    def write(self, predictions: Sequence[Prediction]) -> None:
        buf = io.StringIO(newline="")
        w = csv.writer(buf)
        for p in predictions:
            w.writerow(prediction_csv_row(p))
        self.fh.write(buf.getvalue().encode("utf-8"))
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()


# -- decoding in workers ------------------------------------------------------------------------------


class _Preprocessed(Dataset):
    """Item i: (i, tensor or None, error reason or None, load ms, preprocess ms), exactly as
    Predictor.predict_one loads and transforms a path."""

    def __init__(self, paths: Sequence[str], transform: Callable, img_size: int):
        self.paths = paths
        self.transform = transform
        self.img_size = img_size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        t0 = time.perf_counter()
        try:
            img = decode_for(self.img_size, self.paths[i])
        except ImageLoadError as exc:
            return i, None, exc.reason, 0.0, 0.0
        t1 = time.perf_counter()
        x = self.transform(img)
        return i, x, None, (t1 - t0) * 1000.0, (time.perf_counter() - t1) * 1000.0


def _collate(items):
    good = [it for it in items if it[1] is not None]
    batch = torch.stack([it[1] for it in good]) if good else None
    return [(i, err, load, prep) for i, _x, err, load, prep in items], batch


# -- the loop -----------------------------------------------------------------------------------------


def predict_folder_to_csv(
    predictor_or_checkpoint: Predictor | str | Path,
    paths: Iterable[str | Path],
    csv_path: str | Path,
    *,
    batch_size: int = 32,
    workers: int | None = None,
    topk: int = 5,
    device: str = "auto",
    mp_context: str | None = None,
    on_progress: Callable[[BatchProgress], None] | None = None,
    stop: threading.Event | None = None,
) -> BatchSummary:
    """Classify every image in `paths` (files; folders expand to the images inside) into `csv_path`.

    Rows already in the CSV are skipped (resume); `stop` is checked after each batch and leaves a valid
    CSV. `workers` None: the device plan's DataLoader workers; `mp_context` as in TrainConfig (the app
    passes "forkserver"). Timings per row: load and preprocess measured in the worker for that image,
    forward = the batch's forward time / its images, total = their sum.
    """
    if batch_size < 1:
        raise EngineError("batch size must be at least 1")
    predictor = (
        predictor_or_checkpoint
        if isinstance(predictor_or_checkpoint, Predictor)
        else Predictor(predictor_or_checkpoint, device=device, warmup=False)
    )
    csv_path = Path(csv_path)
    t0 = time.perf_counter()
    everything = [str(p) for p in expand_inputs(paths)]
    done = open_results_csv(csv_path)
    todo = [p for p in everything if _key(p) not in done]
    total, already = len(everything), len(everything) - len(todo)
    del everything, done  # only needed for the filter above
    dev = predictor.device
    plan = predictor.plan
    workers = plan.loader_workers if workers is None else max(0, workers)
    img_size = predictor.meta.img_size
    loader = DataLoader(
        _Preprocessed(todo, predictor.transform, img_size),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=plan.pin_memory,
        **({"multiprocessing_context": mp_context} if workers > 0 and mp_context else {}),
    )
    k = max(1, min(topk, len(predictor.classes)))
    writer = _RowWriter(csv_path)
    written = errors = 0
    stopped = False
    last_progress = 0.0
    reported = -1
    try:
        for items, batch in loader:
            forward_ms, tops = 0.0, iter(())
            if batch is not None:
                tf = time.perf_counter()
                x = plan.to_device(batch, dev)
                answer = predictor.outputs(x)  # the same model call, calibration and verdict as predict_one
                values, indices = (
                    t.cpu().tolist() for t in answer.probs.topk(k, dim=1)
                )  # waits for the device
                forward_ms = (time.perf_counter() - tf) * 1000.0 / len(values)
                verdicts = zip(
                    answer.unknown or [None] * len(values),
                    answer.scores.tolist() if answer.scores is not None else [None] * len(values),
                    strict=True,
                )
                tops = iter(zip(values, indices, verdicts, strict=True))
            rows = []
            for i, err, load_ms, prep_ms in items:
                if err is not None:
                    rows.append(Prediction(path=todo[i], error=err))
                    errors += 1
                    continue
                vals, idx, (unknown, ood) = next(tops)
                timing = {"load": load_ms, "preprocess": prep_ms, "forward": forward_ms}
                timing["total"] = load_ms + prep_ms + forward_ms
                top = [(predictor.classes[c], float(v)) for v, c in zip(vals, idx, strict=True)]
                rows.append(
                    Prediction(path=todo[i], topk=top, timing_ms=timing, unknown=unknown, ood_score=ood)
                )
            writer.write(rows)
            written += len(rows)
            now = time.perf_counter()
            if on_progress is not None and (
                now - last_progress >= 1.0 / PROGRESS_PER_S or written == len(todo)
            ):
                last_progress, reported = now, written
                on_progress(_progress(already + written, total, errors, written, now - t0))
            if stop is not None and stop.is_set():
                stopped = written < len(todo)
                break
    finally:
        writer.close()
    wall = time.perf_counter() - t0
    if on_progress is not None and reported != written:  # the last word: where it ended
        on_progress(_progress(already + written, total, errors, written, wall))
    log.info(
        "%d images predicted into %s (%d skipped: already there, %d errors)",
        written,
        csv_path,
        already,
        errors,
    )
    return BatchSummary.of(csv_path, total, written, already, errors, stopped, wall)


def _progress(done: int, total: int, errors: int, ours: int, elapsed: float) -> BatchProgress:
    rate = ours / elapsed if elapsed > 0 else 0.0
    return BatchProgress(
        done=done,
        total=total,
        errors=errors,
        img_per_s=rate,
        eta_s=(total - done) / rate if rate > 0 else None,
        elapsed_s=elapsed,
    )
