"""Device plan (engine/device.py): every CUDA lever is chosen by a pure function, so it is checked here without
a GPU; process-wide settings are restored; the CPU meter's logic is checked on fake samples, not the machine."""

from __future__ import annotations

import os

import pytest
import torch

from resnet_gui.engine import device as P
from resnet_gui.engine.device import DeviceInfo, infer_threads, plan_for


def test_cuda_with_bf16_pulls_every_lever() -> None:
    p = plan_for(DeviceInfo("cuda", bf16=True, fp16=True, cpu_count=16))
    assert p.pin_memory and p.non_blocking and p.channels_last and p.cudnn_benchmark
    assert p.amp_dtype == torch.bfloat16 and not p.grad_scaler  # bf16 needs no loss scaling
    assert p.timer == "cuda_event"
    assert p.loader_workers == 8  # capped, one core left for the main process
    assert p.eval_workers == 2 and p.max_threads == 0  # threads: torch's own on a GPU


def test_cuda_without_bf16_uses_fp16_with_a_scaler() -> None:
    p = plan_for(DeviceInfo("cuda", bf16=False, fp16=True, cpu_count=4))
    assert p.amp_dtype == torch.float16 and p.grad_scaler
    assert p.loader_workers == 3


def test_amp_off_means_full_precision_everywhere() -> None:
    for info in (DeviceInfo("cuda", bf16=True, fp16=True), DeviceInfo("cpu", bf16=True)):
        p = plan_for(info, amp=False)
        assert p.amp_dtype is None and not p.grad_scaler


def test_cpu_plan() -> None:
    p = plan_for(DeviceInfo("cpu", bf16=False, cpu_count=2))
    assert not (p.pin_memory or p.non_blocking or p.channels_last or p.cudnn_benchmark)
    assert p.amp_dtype is None  # no emulated bf16
    assert p.timer == "wall" and p.loader_workers == 0
    assert p.eval_workers == 0 and p.max_threads == 2
    assert plan_for(DeviceInfo("cpu", bf16=True, cpu_count=2)).amp_dtype == torch.bfloat16
    assert plan_for(DeviceInfo("cpu", cpu_count=32)).loader_workers == 4


def test_mps_plan_synchronises_its_timer() -> None:
    p = plan_for(DeviceInfo("mps", cpu_count=8))
    assert p.timer == "sync_wall" and p.amp_dtype is None and not p.pin_memory


@pytest.mark.parametrize(
    ("cpus", "load", "want"),
    [(2, 0.0, 2), (2, 0.4, 2), (2, 1.0, 1), (2, 3.5, 1), (16, 4.0, 12), (16, -1.0, 16), (1, 0.0, 1)],
)
def test_infer_threads_uses_the_free_cores(cpus: int, load: float, want: int) -> None:
    assert infer_threads(cpus, load) == want


def test_describe_this_machine_is_consistent() -> None:
    info = P.describe("cpu")
    assert info.type == "cpu" and info.cpu_count >= 1
    assert P.device_plan("cpu").amp_dtype == (torch.bfloat16 if info.bf16 else None)


def test_plan_settings_set_cudnn_benchmark_then_restore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    with P.plan_settings(plan_for(DeviceInfo("cpu"))):
        assert torch.backends.cudnn.benchmark is False
    with P.plan_settings(plan_for(DeviceInfo("cuda", bf16=True, fp16=True))):
        assert torch.backends.cudnn.benchmark is True
    assert torch.backends.cudnn.benchmark is False  # back to what it was
    before = torch.get_num_threads()
    with P.plan_settings(plan_for(DeviceInfo("cpu"))):
        torch.set_num_threads(1 if before > 1 else 2)
    assert torch.get_num_threads() == before


def test_inference_plan_uses_amp_only_on_the_cpu_with_channels_last() -> None:
    plain = P.inference_plan("cpu")
    assert plain.amp_dtype is None and not plain.channels_last
    fast = P.inference_plan("cpu", amp=True)
    assert fast.amp_dtype == (torch.bfloat16 if P.describe("cpu").bf16 else None)
    assert fast.channels_last == (fast.amp_dtype is not None)


def test_cpu_threads_sets_then_restores() -> None:
    before = torch.get_num_threads()
    with P.cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with P.cpu_threads(None):
        assert torch.get_num_threads() == before


def test_predictor_uses_only_the_free_cores_for_one_image(checkpoint, demo_dir, monkeypatch) -> None:
    import resnet_gui.engine.infer.predict as pred

    seen: list[int] = []
    real = pred.timed_forward

    def spy(model, x, timer=None):
        seen.append(torch.get_num_threads())
        return real(model, x, timer)

    monkeypatch.setattr(pred, "timed_forward", spy)
    p = pred.Predictor(checkpoint, device="cpu")
    seen.clear()  # the warm-up's forward passes on load (infer/predict.py _warmup)
    image = sorted(demo_dir.rglob("*.png"))[0]
    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(p._cpu, "others", lambda: 1000.0)  # every core busy elsewhere
        assert p.predict_one(image).label is not None
        assert torch.get_num_threads() == before  # the caller's count is back
        p.predict_one(image)
        monkeypatch.setattr(p._cpu, "others", lambda: 0.0)  # a quiet machine
        p.predict_one(image)
        assert seen == [1, 1, P.infer_threads(os.cpu_count() or 1, 0.0)]
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize(
    ("cpus", "load", "ours", "want"),
    [(2, 2.0, 2, 2), (2, 3.0, 2, 1), (2, 2.0, 1, 1), (2, 1.0, 1, 2), (16, 20.0, 16, 12)],
)
def test_train_threads_leaves_out_our_own_load(cpus: int, load: float, ours: int, want: int) -> None:
    assert P.train_threads(cpus, load, ours) == want


def test_epoch_threads_sets_the_count_at_each_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    loads = iter([1000.0, 0.0])
    wrapped = P.EpochThreads([1, 2, 3], max_threads=4, load=lambda: next(loads))
    with P.restored_threads():
        assert len(wrapped) == 3
        assert list(wrapped) == [1, 2, 3]
        assert torch.get_num_threads() == 1  # busy machine: one thread
        assert list(wrapped) == [1, 2, 3]
        assert wrapped.history == [1, P.infer_threads(4, 0.0 - 1)]
    assert torch.get_num_threads() == before
    assert list(P.EpochThreads([4], max_threads=0)) == [4]


def test_predictor_amp_is_opt_in_and_close_to_fp32(checkpoint, demo_dir) -> None:
    import resnet_gui.engine.infer.predict as pred

    images = sorted(demo_dir.rglob("*.png"))[:6]
    exact = pred.Predictor(checkpoint, device="cpu")
    fast = pred.Predictor(checkpoint, device="cpu", amp=True)
    assert exact.plan.amp_dtype is None and not exact.plan.channels_last  # the default: fp32, same as eval
    assert fast.plan.amp_dtype == (torch.bfloat16 if P.describe("cpu").bf16 else None)
    for path in images:
        a, b = dict(exact.predict_one(path, topk=4).topk), dict(fast.predict_one(path, topk=4).topk)
        assert a.keys() == b.keys()
        assert max(abs(a[k] - b[k]) for k in a) < 0.05
        if fast.plan.amp_dtype is None:
            assert a == b


class _FakeCpu:
    """Readings for CpuMeter: (busy CPU seconds of all processes, wall clock, our own CPU seconds)."""

    def __init__(self) -> None:
        self.busy = self.wall = self.own = 0.0

    def advance(self, wall: float, ours: float, others: float) -> None:
        self.wall += wall
        self.own += ours
        self.busy += ours + others

    def __call__(self) -> tuple[float, float, float]:
        return self.busy, self.wall, self.own


def test_cpu_meter_counts_other_processes_not_our_own_work():
    """Our own busy threads are not 'others'; a busy other process is. Fake samples: no machine state."""
    cpu = _FakeCpu()
    meter = P.CpuMeter(sample=cpu, fallback=lambda: pytest.fail("no fallback with samples"))
    cpu.advance(wall=0.6, ours=0.6, others=0.0)  # burn one core in this process
    assert meter.others() == pytest.approx(0.0)  # (not ~1: that core was ours)
    cpu.advance(wall=1.0, ours=0.1, others=1.0)  # another process kept a core busy
    assert meter.others() == pytest.approx(1.0)
    cpu.advance(wall=1.0, ours=2.0, others=0.5)  # both cores ours, half of one somebody else's
    assert meter.others() == pytest.approx(0.5)


def test_cpu_meter_keeps_its_value_over_short_intervals_and_falls_back_without_proc():
    cpu = _FakeCpu()
    meter = P.CpuMeter(sample=cpu)
    cpu.advance(wall=1.0, ours=0.0, others=1.5)
    assert meter.others() == pytest.approx(1.5)
    cpu.advance(wall=0.05, ours=0.0, others=0.0)  # too short to measure: the last value stands
    assert meter.others() == pytest.approx(1.5)
    cpu.advance(wall=0.3, ours=0.0, others=0.0)  # measured from the last accepted reading (0.35 s)
    assert meter.others() == pytest.approx(0.0)
    no_proc = P.CpuMeter(sample=lambda: None, fallback=lambda: 3.25)
    assert no_proc.others() == 3.25


def test_the_real_cpu_sample_is_well_formed():
    sample = P.cpu_sample()
    if sample is None:
        pytest.skip("no /proc/stat here: the meter falls back to the load average")
    busy, wall, own = sample
    assert busy >= 0 and wall > 0 and own >= 0
