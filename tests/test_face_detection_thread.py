"""Live: face detection rounds on a thread of their own (``FaceChannel.start_detection_thread``)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from emolive.config import InferenceConfig
from emolive.core.contracts import VideoFrame
from emolive.core.rings import AudioRing, FrameRing
from emolive.face.channel import FaceChannel
from emolive.face.detector import Detection
from emolive.fusion.fuser import Fuser
from emolive.runtime.worker import InferenceWorker

BOX = Detection(200.0, 120.0, 160.0, 160.0, 0.9)


class GatedDetector:
    """Finds BOX in every frame once ``gate`` opens; records the thread it ran on."""

    def __init__(self, fail: bool = False) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.finished = threading.Event()
        self.threads: set[str] = set()
        self.fail = fail

    def detect(self, grey):
        self.started.set()
        self.threads.add(threading.current_thread().name)
        self.gate.wait(5.0)
        self.finished.set()
        if self.fail:
            raise RuntimeError("cascade broke")
        return [BOX]

    def detect_near(self, grey, box, margin=0.6, face_px=40):
        return self.detect(grey)


def frame(index: int) -> VideoFrame:
    image = np.random.default_rng(index).integers(60, 200, (480, 640, 3), dtype=np.uint8)
    return VideoFrame(0.1 * index, index, image)


@pytest.fixture
def channel():
    channel = FaceChannel(detect_every=2, detector=GatedDetector())
    yield channel
    channel.detector.gate.set()
    channel.stop_detection_thread()


def test_a_frame_does_not_wait_for_its_detection_round_and_a_later_frame_uses_the_faces(channel):
    detector = channel.detector
    channel.start_detection_thread()
    out, boxes = channel.process(frame(0), detect=True)
    assert detector.started.wait(2.0)
    assert not detector.finished.is_set()  # the frame came back while its round was still running
    assert not out.present and boxes == ()
    assert threading.current_thread().name not in detector.threads
    detector.gate.set()
    assert channel._detection_thread.wait_idle(5.0)
    out, boxes = channel.process(frame(1), detect=False)
    assert out.present and len(boxes) == 1
    assert abs(boxes[0].x - BOX.x) <= 1 and abs(boxes[0].w - BOX.w) <= 1
    assert channel.pop_detection_ms() is not None and channel.pop_detection_ms() is None  # once per applied round


def test_detections_of_the_previous_source_are_dropped_after_a_reset(channel):
    channel.start_detection_thread()
    channel.process(frame(0), detect=True)
    assert channel.detector.started.wait(2.0)
    channel.reset()
    channel.detector.gate.set()
    assert channel._detection_thread.wait_idle(5.0)
    out, boxes = channel.process(frame(1), detect=False)
    assert not out.present and boxes == ()


def test_an_error_in_the_detection_thread_reaches_the_caller():
    channel = FaceChannel(detect_every=2, detector=GatedDetector(fail=True))
    channel.detector.gate.set()
    channel.start_detection_thread()
    try:
        channel.process(frame(0), detect=True)
        assert channel._detection_thread.wait_idle(5.0)
        with pytest.raises(RuntimeError, match="cascade broke"):
            channel.process(frame(1), detect=False)
    finally:
        channel.stop_detection_thread()


def test_the_live_worker_starts_and_stops_the_detection_thread_and_offline_detects_in_line(channel):
    channel.detector.gate.set()
    frames = FrameRing(30)
    worker = InferenceWorker(frames, AudioRing(5.0), Fuser(), InferenceConfig(hop_s=0.05), face=channel,
                             detect_in_background=True)
    worker.start()
    thread = channel._detection_thread
    assert thread is not None and thread.is_alive()
    worker.stop()
    worker.join(5.0)
    assert not worker.is_alive() and not thread.is_alive() and channel._detection_thread is None
    offline = InferenceWorker(frames, AudioRing(5.0), Fuser(), InferenceConfig(), face=channel)
    frames.write(frame(3))
    offline.step(0.35)
    assert threading.current_thread().name in channel.detector.threads
