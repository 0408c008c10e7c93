"""Ring buffers: wrap-around, time queries, drop counting, concurrent readers."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from emolive.core.contracts import AudioBlock, VideoFrame
from emolive.core.rings import AudioRing, FrameRing, aligned_window

SR = 16_000


def ramp_block(start: int, n: int) -> AudioBlock:
    """Samples whose value is their own index (exact in float32), stamped at index / SR."""
    return AudioBlock(t=start / SR, samples=np.arange(start, start + n).astype(np.float32))


def test_audio_ring_wraps_and_keeps_the_newest_samples_in_order():
    ring = AudioRing(seconds=1.0, sample_rate=SR)
    written = 0
    for n in [7000, 5000, 9000, 3333]:  # 24,333 samples into a 16,000-sample ring
        ring.write(ramp_block(written, n))
        written += n
    block = ring.latest(1.0)
    expected = np.arange(written - SR, written).astype(np.float32)
    np.testing.assert_array_equal(block.samples, expected)
    assert block.t == pytest.approx((written - SR) / SR)
    assert ring.dropped == written - SR
    assert ring.end_time == pytest.approx(written / SR)


def test_audio_ring_between_returns_the_requested_span():
    ring = AudioRing(seconds=2.0, sample_rate=SR)
    ring.write(ramp_block(0, 3 * SR))  # more than the capacity in one block
    block = ring.between(1.5, 2.5)
    assert block.t == pytest.approx(1.5)
    assert block.samples.size == SR
    assert block.samples[0] == 1.5 * SR
    # before what the ring holds: clipped to what is there
    clipped = ring.between(0.0, 1.25)
    assert clipped.t == pytest.approx(1.0)
    assert clipped.samples.size == SR // 4


def test_audio_ring_reanchors_time_on_each_block():
    ring = AudioRing(seconds=5.0, sample_rate=SR)
    ring.write(AudioBlock(t=10.0, samples=np.zeros(SR, np.float32)))
    ring.write(AudioBlock(t=11.2, samples=np.ones(SR // 2, np.float32)))  # 0.2 s of clock drift
    assert ring.end_time == pytest.approx(11.7)
    assert ring.between(11.2, 11.7).samples.min() == 1.0


def test_audio_ring_rejects_wrong_rate():
    ring = AudioRing(seconds=1.0)
    with pytest.raises(ValueError, match="16000"):
        ring.write(AudioBlock(t=0.0, samples=np.zeros(10, np.float32), sample_rate=44_100))


def test_frame_ring_overwrites_oldest_and_counts_drops():
    ring = FrameRing(capacity=5)
    img = np.zeros((2, 2, 3), np.uint8)
    for i in range(12):
        ring.write(VideoFrame(t=i / 30, index=i, image=img))
    assert len(ring) == 5
    assert ring.dropped == 7
    assert [f.index for f in ring.between(0, 1)] == [7, 8, 9, 10, 11]
    assert ring.latest().index == 11
    assert ring.latest_at(9.5 / 30).index == 9
    assert [f.index for f in ring.last_seconds(2 / 30)] == [9, 10, 11]


def test_aligned_window_spans_the_same_time():
    frames, audio = FrameRing(100), AudioRing(10.0)
    img = np.zeros((2, 2, 3), np.uint8)
    for i in range(90):
        frames.write(VideoFrame(t=i / 30, index=i, image=img))
    audio.write(ramp_block(0, 3 * SR))
    window_frames, window_audio = aligned_window(frames, audio, 2.0, end=3.0)
    assert window_frames[0].t >= 1.0 and window_frames[-1].t <= 3.0
    assert window_audio.t == pytest.approx(1.0)
    assert window_audio.duration == pytest.approx(2.0)


class Interleaver(np.ndarray):
    """An audio ring's buffer that lets "the other side" (``hook``) run in the middle of every copy out of it
    (between the reader's index arithmetic and its copy) and in the middle of every write into it (after each
    slice assignment): the interleavings a thread switch could produce at those points."""

    hook: Any = None

    def __getitem__(self, key):  # noqa: ANN001, ANN204
        if self.hook is not None:
            self.hook("read")
        return np.asarray(super().__getitem__(key))

    def __setitem__(self, key, value) -> None:  # noqa: ANN001
        super().__setitem__(key, value)
        if self.hook is not None:
            self.hook("write")


def test_a_write_never_lands_inside_a_read_nor_a_read_inside_a_write():
    """Deterministic torn-read check: whenever the ring's lock would let another thread in (it is free), a writer
    runs in the middle of each read's copy and a reader in the middle of each write. Holding the lock around both
    keeps them out, so every read is whole; without it (in ``write`` or in the readers) the first forced
    interleaving tears a read: samples from two writes, or a time that does not match them."""
    ring = AudioRing(seconds=0.01, sample_rate=SR)  # 160 samples: each write overwrites part of every read
    reads: list[AudioBlock] = []
    written = 0
    inside = False

    def other_side(where: str) -> None:
        nonlocal written, inside
        if inside or not ring._lock.acquire(blocking=False):
            return  # the lock is held: no other thread could get in here
        ring._lock.release()
        inside = True
        try:
            if where == "read":  # a reader is copying: a writer gets in
                ring.write(ramp_block(written, 60))
                written += 60
            else:  # a writer is half-way: a reader gets in
                reads.append(ring.latest(1.0))
        finally:
            inside = False

    buffer = ring._buf.view(Interleaver)
    buffer.hook = other_side
    ring._buf = buffer
    for _ in range(20):
        block = ramp_block(written, 70)
        written += 70
        ring.write(block)
        reads.append(ring.latest(1.0))
        reads.append(ring.between(block.t - 0.005, block.t + 0.004))
    assert ring.written == written and len(reads) >= 40
    for block in reads:
        assert block.samples.size > 1
        assert np.all(np.diff(block.samples.astype(np.float64)) == 1.0), "torn read: samples of two writes"
        assert abs(block.t - block.samples[0] / SR) < 1e-9, "torn read: time does not match the samples"


def test_concurrent_frame_readers_get_consistent_lists():
    ring = FrameRing(capacity=30)
    stop = threading.Event()
    problems: list[str] = []
    img = np.zeros((1, 1, 3), np.uint8)

    def reader() -> None:
        while not stop.is_set():
            frames = ring.last_seconds(0.5)
            indexes = [f.index for f in frames]
            if indexes != sorted(indexes) or (indexes and indexes[-1] - indexes[0] != len(indexes) - 1):
                problems.append(str(indexes))
                return

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for i in range(5000):
        ring.write(VideoFrame(t=i / 30, index=i, image=img))
    stop.set()
    for thread in threads:
        thread.join()
    assert not problems
    assert ring.dropped == 5000 - 30


def test_the_default_live_frame_ring_serves_its_readers() -> None:
    """Worker (newest frame), status (capture rate over the last 2 s), raw recorder (polls every 0.1 s)."""
    import inspect

    from emolive.config import AppConfig
    from emolive.recording.raw import RawCaptureWriter
    from emolive.runtime.engine import OFFLINE_FRAME_RING, new_rings
    from emolive.runtime.pipeline import LivePipeline

    config = AppConfig()
    fps = config.capture.fps
    poll_s = inspect.signature(RawCaptureWriter).parameters["poll_s"].default
    frames, _ = new_rings(config)
    assert frames.capacity / fps >= 5 * poll_s  # the recorder reads every frame with 5 polls of slack
    pipeline = LivePipeline(config, camera=None, microphone=None)
    for i in range(int(3 * fps)):
        pipeline.frames.write(VideoFrame(t=i / fps, index=i, image=np.zeros((2, 2, 3), np.uint8)))
    assert pipeline.status().capture_fps == pytest.approx(fps)
    assert pipeline.frames.latest_at(2.5).index == int(2.5 * fps)
    assert new_rings(config, offline=True)[0].capacity == max(config.capture.frame_ring, OFFLINE_FRAME_RING)
    assert frames.capacity < OFFLINE_FRAME_RING  # the live ring is the smaller one (memory)
