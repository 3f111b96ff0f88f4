"""Live classification of a video file (engine/infer/video.py): the newest frame wins, nothing queues."""

from __future__ import annotations

import threading

import pytest

from resnet_gui.engine.errors import EngineError
from resnet_gui.engine.infer.predict import Predictor
from resnet_gui.engine.infer.video import (
    FrameAnswer,
    FramePreview,
    FrameSource,
    LatestFrame,
    LiveEnded,
    run_live,
    write_test_video,
)

pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_test_video(tmp_path_factory.mktemp("video") / "shapes.avi", frames=8, size=64, fps=10)


def test_a_generated_video_reads_back_frame_by_frame(video):
    with FrameSource(video) as src:
        assert src.fps == pytest.approx(10, abs=0.5) and src.frame_count == 8
        frames = []
        while (img := src.read()) is not None:
            frames.append(img)
    assert len(frames) == 8 and frames[0].size == (64, 64) and frames[0].mode == "RGB"


def test_latest_frame_keeps_only_the_newest():
    box = LatestFrame()
    for i in range(3):
        box.put(i, float(i), None)
    assert box.take()[0] == 2 and box.dropped == 2
    box.close()
    assert box.take() is None


def test_a_slow_model_drops_frames_instead_of_queueing(video):
    """Frame 0 is being classified while frames 1-7 arrive: only the newest, 7, is classified next."""
    first_taken, all_read = threading.Event(), threading.Event()
    events, seen = [], []

    def on_event(e):  # the reader thread calls this before offering each frame
        events.append(e)
        if isinstance(e, FramePreview) and e.index == 1:
            first_taken.wait(10)  # frame 0 is in the classifier's hands before frame 1 is offered
        if isinstance(e, FramePreview) and e.index == 7:
            all_read.set()

    def classify(img):
        if not seen:
            first_taken.set()
            all_read.wait(10)
        seen.append(img)
        return "answer"

    ended = run_live(video, classify, on_event, threading.Event(), realtime=False)
    answers = [e for e in events if isinstance(e, FrameAnswer)]
    assert [a.index for a in answers] == [0, 7]
    assert ended == events[-1] and isinstance(ended, LiveEnded)
    assert (ended.frames, ended.classified, ended.dropped) == (8, 2, 6)
    assert ended.reason == "end of video"
    assert all(a.latency_ms >= 0 for a in answers)


def test_stop_ends_a_live_run(video):
    stop = threading.Event()
    ended = run_live(video, lambda img: stop.set(), lambda e: None, stop)
    assert ended.reason == "stopped" and ended.classified == 1


def test_pause_classifies_nothing(video):
    paused = threading.Event()
    paused.set()
    ended = run_live(video, lambda img: "x", lambda e: None, threading.Event(), realtime=False, paused=paused)
    assert (ended.frames, ended.classified) == (8, 0)


def test_missing_sources_say_so(tmp_path):
    with pytest.raises(EngineError, match="does not exist"):
        FrameSource(tmp_path / "none.mp4")
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(EngineError, match="cannot open bad.mp4"):
        FrameSource(tmp_path / "bad.mp4")
    with pytest.raises(EngineError, match="no camera found"):
        FrameSource(97)


def test_the_model_classifies_video_frames(video, checkpoint):
    pred = Predictor(checkpoint, device="cpu")
    events = []
    ended = run_live(video, pred.predict_one, events.append, threading.Event(), realtime=False)
    answers = [e for e in events if isinstance(e, FrameAnswer)]
    assert ended.classified == len(answers) >= 1
    assert answers[-1].prediction.label in pred.classes and answers[-1].prediction.error is None
