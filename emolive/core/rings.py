"""Ring buffers between capture threads (one writer) and workers (many readers).

A plain ``threading.Lock`` guards each ring: the critical sections are short copies, so readers never
see a half-written frame or block, and the writer never waits long.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from emolive.core.contracts import AudioBlock, VideoFrame, frozen_array


class FrameRing:
    """The latest ``capacity`` video frames with their timestamps; overwrites the oldest and counts it."""

    def __init__(self, capacity: int = 90) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._frames: deque[VideoFrame] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._written = 0

    def write(self, frame: VideoFrame) -> None:
        with self._lock:
            self._frames.append(frame)
            self._written += 1

    @property
    def written(self) -> int:
        return self._written

    @property
    def dropped(self) -> int:
        """Frames overwritten before anyone could read them from the ring."""
        with self._lock:
            return max(0, self._written - self.capacity)

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)

    def latest(self) -> VideoFrame | None:
        with self._lock:
            return self._frames[-1] if self._frames else None

    def latest_at(self, t: float) -> VideoFrame | None:
        """The newest frame stamped at or before ``t``."""
        with self._lock:
            for frame in reversed(self._frames):
                if frame.t <= t:
                    return frame
            return None

    def between(self, t0: float, t1: float) -> list[VideoFrame]:
        """Frames with ``t0 <= t <= t1``, oldest first."""
        with self._lock:
            return [f for f in self._frames if t0 <= f.t <= t1]

    def last_seconds(self, seconds: float, end: float | None = None) -> list[VideoFrame]:
        with self._lock:
            if not self._frames:
                return []
            end = self._frames[-1].t if end is None else end
            return [f for f in self._frames if end - seconds <= f.t <= end]

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()

    def state(self, t: float) -> dict:
        """What a reader asking for times after ``t`` can still see: the newest frame at or before ``t`` and every
        frame after it (``latest_at`` never returns an older one)."""
        with self._lock:
            frames = list(self._frames)
            written = self._written
        keep = [i for i, f in enumerate(frames) if f.t > t]
        older = [i for i, f in enumerate(frames) if f.t <= t]
        chosen = ([older[-1]] if older else []) + keep
        return {"written": written, "t": [frames[i].t for i in chosen], "index": [frames[i].index for i in chosen],
                "images": [np.array(frames[i].image) for i in chosen]}

    def restore(self, state: dict) -> None:
        """Replace the contents by ``state`` (from ``state``)."""
        with self._lock:
            self._frames.clear()
            for t, index, image in zip(state["t"], state["index"], state["images"], strict=True):
                self._frames.append(VideoFrame(t=float(t), index=int(index), image=frozen_array(np.array(image))))
            self._written = int(state["written"])


class AudioRing:
    """The last ``seconds`` of mono float32 audio, each sample placed on the session clock.

    The buffer is mirrored (every sample is written twice, ``capacity`` apart) so any window is one
    contiguous slice, as in Friture's ring buffer. A block's ``t`` re-anchors the clock, so drift
    between a sound card and the monotonic clock does not accumulate; a gap in time is kept as a gap
    in time (the missing span reads as silence only if asked for explicitly by ``between``).
    """

    def __init__(self, seconds: float = 30.0, sample_rate: int = 16_000) -> None:
        self.sample_rate = sample_rate
        self.capacity = int(round(seconds * sample_rate))
        if self.capacity < 1:
            raise ValueError("seconds must be positive")
        self._buf = np.zeros(2 * self.capacity, dtype=np.float32)
        self._lock = threading.Lock()
        self._written = 0  # samples ever written
        self._anchor_index = 0  # sample index whose time is _anchor_t
        self._anchor_t = 0.0
        self._floor = 0  # oldest sample index held (above 0 only after ``restore``)

    # --- writer ---------------------------------------------------------------------------------
    def write(self, block: AudioBlock) -> None:
        if block.sample_rate != self.sample_rate:
            raise ValueError(f"audio ring expects {self.sample_rate} Hz, got {block.sample_rate} Hz")
        data = np.asarray(block.samples, dtype=np.float32).reshape(-1)
        if data.size > self.capacity:
            skipped = data.size - self.capacity
            data = data[skipped:]
            t = block.t + skipped / self.sample_rate
        else:
            t = block.t
        with self._lock:
            self._anchor_index, self._anchor_t = self._written, t
            self._put(data)

    def _put(self, data: np.ndarray) -> None:
        pos = self._written % self.capacity
        first = min(data.size, self.capacity - pos)
        for offset in (0, self.capacity):
            self._buf[offset + pos : offset + pos + first] = data[:first]
        rest = data.size - first
        if rest:
            for offset in (0, self.capacity):
                self._buf[offset : offset + rest] = data[first:]
        self._written += data.size

    # --- snapshots ------------------------------------------------------------------------------
    def state(self, seconds: float) -> dict:
        """The newest ``seconds`` of audio with the ring's sample count and clock anchor: after ``restore``, every
        read that starts no earlier than ``seconds`` before the newest sample gives the same samples and times."""
        n = min(int(np.ceil(seconds * self.sample_rate)), self.capacity)
        with self._lock:
            return {"samples": self._slice(self._written - n, self._written).samples, "written": self._written,
                    "anchor_index": self._anchor_index, "anchor_t": self._anchor_t, "sample_rate": self.sample_rate}

    def restore(self, state: dict) -> None:
        """Continue from ``state``: the same sample indices and clock; samples older than the kept ones read as
        not held (clipped away, as samples that have left the ring)."""
        if int(state["sample_rate"]) != self.sample_rate:
            raise ValueError(f"audio ring snapshot at {state['sample_rate']} Hz, ring at {self.sample_rate} Hz")
        samples = np.asarray(state["samples"], dtype=np.float32).reshape(-1)[-self.capacity:]
        with self._lock:
            self._written = int(state["written"]) - samples.size
            self._put(samples)
            self._floor = self._written - samples.size
            self._anchor_index, self._anchor_t = int(state["anchor_index"]), float(state["anchor_t"])

    # --- readers --------------------------------------------------------------------------------
    def _time_of(self, index: int) -> float:
        return self._anchor_t + (index - self._anchor_index) / self.sample_rate

    def _index_of(self, t: float) -> int:
        return self._anchor_index + int(round((t - self._anchor_t) * self.sample_rate))

    @property
    def written(self) -> int:
        return self._written

    @property
    def dropped(self) -> int:
        """Samples that have left the ring (overwritten by newer audio)."""
        return max(0, self._written - self.capacity)

    @property
    def end_time(self) -> float:
        """Session time just after the newest sample (0.0 when nothing was written)."""
        with self._lock:
            return self._time_of(self._written) if self._written else 0.0

    def _slice(self, start: int, stop: int) -> AudioBlock:
        oldest = max(self._floor, self._written - self.capacity)
        start, stop = max(start, oldest), min(stop, self._written)
        if stop <= start:
            return AudioBlock(t=self._time_of(max(start, oldest)), samples=np.zeros(0, np.float32),
                              sample_rate=self.sample_rate)
        length = stop - start
        end_pos = stop % self.capacity or self.capacity
        lo = end_pos + self.capacity - length
        samples = self._buf[lo : lo + length].copy()
        return AudioBlock(t=self._time_of(start), samples=samples, sample_rate=self.sample_rate)

    def latest(self, seconds: float) -> AudioBlock:
        """A copy of the newest ``seconds`` of audio (shorter if less is held)."""
        n = int(round(seconds * self.sample_rate))
        with self._lock:
            return self._slice(self._written - n, self._written)

    def between(self, t0: float, t1: float) -> AudioBlock:
        """A copy of the audio between session times ``t0`` and ``t1`` (clipped to what is held)."""
        with self._lock:
            return self._slice(self._index_of(t0), self._index_of(t1))

    def clear(self) -> None:
        with self._lock:
            self._written = 0
            self._floor = 0
            self._anchor_index, self._anchor_t = 0, 0.0


def aligned_window(frames: FrameRing, audio: AudioRing, seconds: float, end: float | None = None
                   ) -> tuple[list[VideoFrame], AudioBlock]:
    """Frames and audio of the same span: the ``seconds`` before ``end`` (default: newest audio or frame)."""
    if end is None:
        latest = frames.latest()
        end = max(audio.end_time, latest.t if latest else 0.0)
    return frames.between(end - seconds, end), audio.between(end - seconds, end)
