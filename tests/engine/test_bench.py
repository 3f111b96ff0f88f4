"""bench: percentiles, progress events, stopping, and the CUDA rows (FP32 vs AMP, peak memory)."""

from __future__ import annotations

import threading

import pytest
import torch

from resnet_gui.engine.errors import EngineError
from resnet_gui.engine.infer.bench import BenchProgress, bench_checkpoint, bench_model, percentile
from resnet_gui.engine.model.build import build_model

HAS_CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return build_model("resnet18", 3).eval()


def test_percentile_is_nearest_rank() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 95) == 5.0
    assert percentile(values, 0) == 1.0
    assert percentile(list(range(1, 101)), 95) == 95
    assert percentile([7.0], 95) == 7.0


def test_rows_report_latency_spread_and_progress(model) -> None:
    events: list[object] = []
    rows = bench_model(model, 32, [1, 2], "cpu", repeats=3, warmup=1, on_event=events.append)
    assert [(r["precision"], r["batch_size"], r["runs"]) for r in rows] == [("fp32", 1, 3), ("fp32", 2, 3)]
    for r in rows:
        assert 0 < r["p50_ms"] <= r["p95_ms"]
        assert r["img_per_s"] == pytest.approx(1000 * r["batch_size"] / r["p50_ms"])
    assert [(e.done, e.total) for e in events if isinstance(e, BenchProgress)] == [(1, 2), (2, 2)]
    assert events[-1].row is rows[-1]


def test_time_budget_caps_the_runs_but_keeps_a_minimum(model) -> None:
    rows = bench_model(model, 32, [1], "cpu", repeats=1000, min_repeats=3, warmup=0, budget_s=0.0)
    assert rows[0]["runs"] == 3


def test_stop_ends_between_passes(model) -> None:
    stop = threading.Event()

    def on_event(e: object) -> None:
        stop.set()  # after the first row

    rows = bench_model(model, 32, [1, 2, 4], "cpu", repeats=2, warmup=0, on_event=on_event, stop=stop)
    assert len(rows) == 1


def test_checkpoint_bench_and_bad_arguments(checkpoint) -> None:
    stop = threading.Event()
    stop.set()
    r = bench_checkpoint(checkpoint, batch_sizes=[1], device="cpu", stop=stop)
    assert r["stopped"] is True and r["rows"] == []
    with pytest.raises(EngineError, match="positive"):
        bench_checkpoint(checkpoint, batch_sizes=[], device="cpu")
    with pytest.raises(EngineError, match="CUDA"):
        bench_checkpoint(checkpoint, batch_sizes=[1], device="cpu", amp=True)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs CUDA")
def test_cuda_compares_fp32_and_amp_with_peak_memory(checkpoint) -> None:
    r = bench_checkpoint(checkpoint, batch_sizes=[1, 8], device="cuda", repeats=5)
    assert [(row["precision"], row["batch_size"]) for row in r["rows"]] == [
        ("fp32", 1),
        ("fp32", 8),
        ("amp", 1),
        ("amp", 8),
    ]
    assert all(row["peak_mem_mb"] is not None and row["peak_mem_mb"] > 0 for row in r["rows"])
