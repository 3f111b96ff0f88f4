"""Live video classification speed on this machine (engine/infer/video.py): classifications per second and
latency, file read as fast as it decodes (every frame offered; the newest wins) and in real time.

    nice -n 10 python benchmarks/bench_video.py CHECKPOINT [--size 64] [--frames 120]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
from pathlib import Path

import numpy as np

from resnet_gui.engine.device import current_load
from resnet_gui.engine.infer.predict import Predictor
from resnet_gui.engine.infer.video import FrameAnswer, run_live, write_test_video


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--fps", type=float, default=30.0)
    args = ap.parse_args()
    video = write_test_video(Path(tempfile.mkdtemp()) / "clip.avi", args.frames, args.size, args.fps)
    pred = Predictor(args.checkpoint, device="cpu")
    out = {"load_before": current_load(), "video": f"{args.frames} frames {args.size} px {args.fps} fps"}
    for realtime in (False, True):
        answers = []
        ended = run_live(
            video,
            pred.predict_one,
            lambda e, answers=answers: answers.append(e) if isinstance(e, FrameAnswer) else None,
            threading.Event(),
            realtime=realtime,
        )
        lat = [a.latency_ms for a in answers]
        out["realtime" if realtime else "as_fast_as_decoded"] = {
            "frames": ended.frames,
            "classified": ended.classified,
            "dropped": ended.dropped,
            "classified_per_s": round(ended.fps, 1),
            "latency_ms_median": round(float(np.median(lat)), 1),
            "latency_ms_p95": round(float(np.percentile(lat, 95)), 1),
        }
    out["load_after"] = current_load()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
