"""Device plan: every CUDA lever is chosen by a pure function, so it is checked here without a GPU."""

from __future__ import annotations

import os

import pytest
import torch

from resnet_gui.engine import plan as P
from resnet_gui.engine.plan import DeviceInfo, infer_threads, plan_for


def test_cuda_with_bf16_pulls_every_lever() -> None:
    p = plan_for(DeviceInfo("cuda", bf16=True, fp16=True, cpu_count=16))
    assert p.pin_memory and p.non_blocking and p.channels_last and p.cudnn_benchmark
    assert p.amp_dtype == torch.bfloat16 and not p.grad_scaler  # bf16 needs no loss scaling
    assert p.timer == "cuda_event"
    assert p.loader_workers == 8  # capped, one core left for the main process


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


def test_apply_backend_flags_sets_cudnn_benchmark(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    P.apply_backend_flags(plan_for(DeviceInfo("cpu")))
    assert torch.backends.cudnn.benchmark is False
    P.apply_backend_flags(plan_for(DeviceInfo("cuda", bf16=True, fp16=True)))
    assert torch.backends.cudnn.benchmark is True


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

    def spy(model, x):
        seen.append(torch.get_num_threads())
        return real(model, x)

    monkeypatch.setattr(pred, "timed_forward", spy)
    p = pred.Predictor(checkpoint, device="cpu")
    image = sorted(demo_dir.rglob("*.png"))[0]
    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(p._cpu, "others", lambda: 1000.0)  # every core busy elsewhere
        assert p.predict_one(image).label is not None
        p.predict_one(image)
        monkeypatch.setattr(p._cpu, "others", lambda: 0.0)  # a quiet machine
        p.predict_one(image)
        assert seen == [1, 1, P.infer_threads(os.cpu_count() or 1, 0.0)]
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
    monkeypatch.setattr(P, "current_load", lambda: next(loads))
    wrapped = P.EpochThreads([1, 2, 3])
    try:
        assert len(wrapped) == 3
        assert list(wrapped) == [1, 2, 3]
        assert torch.get_num_threads() == 1  # busy machine: one thread
        assert list(wrapped) == [1, 2, 3]
        assert wrapped.history == [1, P.infer_threads(os.cpu_count() or 1, 0.0 - 1)]
    finally:
        torch.set_num_threads(before)
    assert list(P.EpochThreads([4], enabled=False)) == [4]


def test_predictor_amp_is_opt_in_and_close_to_fp32(checkpoint, demo_dir) -> None:
    import resnet_gui.engine.infer.predict as pred

    images = sorted(demo_dir.rglob("*.png"))[:6]
    exact = pred.Predictor(checkpoint, device="cpu")
    fast = pred.Predictor(checkpoint, device="cpu", amp=True)
    assert exact._amp_dtype is None and not exact._channels_last  # the default: fp32, same as eval
    assert fast._amp_dtype == (torch.bfloat16 if P.describe("cpu").bf16 else None)
    for path in images:
        a, b = dict(exact.predict_one(path, topk=4).topk), dict(fast.predict_one(path, topk=4).topk)
        assert a.keys() == b.keys()
        assert max(abs(a[k] - b[k]) for k in a) < 0.05
        if fast._amp_dtype is None:
            assert a == b


def test_cpu_meter_counts_other_processes_not_our_own_work():
    """Our own busy threads are not 'others'; a busy child process is (Linux /proc only)."""
    import subprocess
    import sys
    import time

    if P._cpu_sample() is None:
        pytest.skip("no /proc/stat here: the meter falls back to the load average")
    meter = P.CpuMeter()
    end = time.monotonic() + 0.6
    while time.monotonic() < end:  # burn one core in this process
        sum(i * i for i in range(10_000))
    assert meter.others() < 0.8  # (not ~1: that core was ours)
    child = subprocess.Popen(
        [sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<1.2: pass"]
    )
    try:
        time.sleep(1.0)
        assert meter.others() > 0.5  # the child kept a core busy
    finally:
        child.wait()
