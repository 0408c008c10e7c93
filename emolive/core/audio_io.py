"""Decode any audio or video file's audio track to 16 kHz mono float32 with PyAV (FFmpeg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emolive.core.errors import MediaError, not_a_file, plain_reason

TARGET_RATE = 16_000


def load_audio(path: str | Path, sample_rate: int = TARGET_RATE) -> np.ndarray:
    """Return the first audio stream of ``path`` resampled to ``sample_rate``, mono float32 in [-1, 1].

    Raises MediaError when the file is missing, unreadable or has no audio stream.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise MediaError(not_a_file(path))
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaError(f"{path} has no audio track")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            chunks: list[np.ndarray] = []
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except MediaError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise MediaError(f"cannot decode audio from {path}: {plain_reason(exc)}") from exc
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)
