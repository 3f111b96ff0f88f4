"""describe_model's per-layer figures stay right while another thread runs a model (the app does both)."""

from __future__ import annotations

import sys
import threading

import torch

from resnet_gui.engine.model.build import build_model
from resnet_gui.engine.model.describe import describe_model


def test_rows_are_not_scrambled_by_a_forward_pass_in_another_thread() -> None:
    expected = [(r.name, r.macs) for r in describe_model("resnet18", num_classes=4, img_size=64).layers]
    model = build_model("resnet18", 4).eval()
    x = torch.randn(1, 3, 32, 32)
    stop = threading.Event()

    def busy() -> None:
        # what the Classify tab (a forward pass) and the Train tab (FLOPs of each architecture, which
        # registers global module hooks) do while the Model tab measures
        from torch.utils.flop_counter import FlopCounterMode

        with torch.device("meta"):
            other, y = build_model("resnet50", 10).eval(), torch.empty(1, 3, 64, 64)
        while not stop.is_set():
            with torch.inference_mode():
                model(x)
            with FlopCounterMode(display=False), torch.no_grad():
                other(y)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, as a loaded machine does
    thread = threading.Thread(target=busy)
    thread.start()
    try:
        for _ in range(10):
            got = [(r.name, r.macs) for r in describe_model("resnet18", num_classes=4, img_size=64).layers]
            assert got == expected
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)
