"""Silero VAD for a live stream: the LSTM state and the 64-sample context carry over between calls.

``emolive.asr.vad.SpeechDetector`` restarts the model's state on every call, which is right for whole clips but
makes probabilities of short live pieces (a few 32 ms chunks per call) noisy. Fed piece by piece, this class
gives the same probabilities as one call over the whole audio.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from emolive.core.errors import ModelError

CHUNK = 512  # samples per decision at 16 kHz
CONTEXT = 64  # samples of the previous chunk the model sees


@functools.lru_cache(maxsize=1)
def silero_vad():  # noqa: ANN201 - faster_whisper.vad.SileroVADModel
    """The process's one Silero VAD model (inside faster-whisper), shared by the voice channel's speech gate and
    the transcriber: its calls keep no state (the streaming state lives in ``StreamingVAD``) and an ONNX Runtime
    session may be run from several threads."""
    try:
        from faster_whisper.vad import SileroVADModel, get_assets_path
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise ModelError("faster-whisper is not installed; it ships the Silero VAD model") from exc
    path = Path(get_assets_path()) / "silero_vad_v6.onnx"
    if not path.is_file():
        candidates = sorted(Path(get_assets_path()).glob("silero_vad*.onnx"))
        if not candidates:
            raise ModelError(f"Silero VAD model not found in {get_assets_path()}")
        path = candidates[-1]
    return SileroVADModel(str(path))


class StreamingVAD:
    """Callable: speech probability per 512-sample chunk of consecutive 16 kHz audio (length a multiple of 512)."""

    def __init__(self) -> None:
        self._session = silero_vad().session
        self.reset()

    def reset(self) -> None:
        """Forget the stream (a new, unrelated stream follows)."""
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)

    def state(self) -> dict:
        """The LSTM state and the context samples (arrays; see ``restore``)."""
        return {"h": self._h.copy(), "c": self._c.copy(), "context": self._context.copy()}

    def restore(self, state: dict) -> None:
        self._h = np.array(state["h"], dtype=np.float32)
        self._c = np.array(state["c"], dtype=np.float32)
        self._context = np.array(state["context"], dtype=np.float32).reshape(CONTEXT)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        audio = np.asarray(samples, dtype=np.float32).reshape(-1)
        if audio.size % CHUNK:
            raise ValueError(f"audio length must be a multiple of {CHUNK} samples, got {audio.size}")
        if audio.size == 0:
            return np.zeros(0, dtype=np.float32)
        chunks = audio.reshape(-1, CHUNK)
        context = np.concatenate([self._context[None], chunks[:-1, -CONTEXT:]], axis=0)
        out, self._h, self._c = self._session.run(
            None, {"input": np.concatenate([context, chunks], axis=1), "h": self._h, "c": self._c}
        )
        self._context = chunks[-1, -CONTEXT:].copy()
        return np.asarray(out, dtype=np.float32).reshape(-1)
