"""Offline analysis converts only the video frames its steps read."""

from __future__ import annotations

import numpy as np
from fakes import write_tone_clip

from emolive.capture.media_file import MediaFileSource, _step_between
from emolive.core.clock import SessionClock
from emolive.core.contracts import VideoFrame


def test_only_the_frames_a_step_reads_are_converted(tmp_path):
    clip = write_tone_clip(tmp_path / "talk.mp4", seconds=2.0, fps=30)
    source = MediaFileSource(clip, SessionClock(), realtime=False)
    every = [i for i in source.iter_media() if isinstance(i, VideoFrame)]
    some = [i for i in source.iter_media(step_s=0.1) if isinstance(i, VideoFrame)]
    assert [f.index for f in some] == [f.index for f in every] and [f.t for f in some] == [f.t for f in every]
    steps = [round(k * 0.1, 6) for k in range(1, 25)]
    read = {max((f for f in every if f.t <= t), key=lambda f: f.t).index for t in steps}  # FrameRing.latest_at
    converted = {f.index for f in some if f.image.size}
    assert converted == read and len(converted) <= len(every) // 3 + 2
    for frame in some:
        if frame.image.size:
            assert np.array_equal(frame.image, every[frame.index].image)


def test_a_step_between_two_frames():
    assert _step_between(0.0, 0.05, 0.1) is False  # no step at 0.0: the first is at 0.1
    assert _step_between(0.0667, 0.1, 0.1) is False and _step_between(0.0667, 0.1001, 0.1) is True
    assert _step_between(0.3, 0.3333, 0.1) is True  # a frame exactly at a step is read by it
    assert _step_between(0.9, float("inf"), 0.1) is True  # the last frame
