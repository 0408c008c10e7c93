"""Fake estimates for the recording tests (also used by the SIGKILL child process)."""

from __future__ import annotations

from emolive.contracts import EmotionEstimate, FaceBox, ModalityOutput
from emolive.labels import EMOTIONS


def probs_for(level: float) -> tuple[float, ...]:
    """A distribution over EMOTIONS peaking at a class chosen by ``level`` in [0, 1]."""
    top = min(int(level * len(EMOTIONS)), len(EMOTIONS) - 1)
    rest = 0.4 / (len(EMOTIONS) - 1)
    return tuple(0.6 if i == top else rest for i in range(len(EMOTIONS)))


def make_estimate(t: float, level: float = 0.0, transcript: str = "", face: bool = True) -> EmotionEstimate:
    emotion = probs_for(level)
    top = EMOTIONS[max(range(len(emotion)), key=emotion.__getitem__)]
    modalities = (
        ModalityOutput("face", t, face, emotion=emotion if face else None, quality=0.8 if face else 0.0,
                       reason="" if face else "no face"),
        ModalityOutput("voice", t, False, reason="no speech"),
    )
    return EmotionEstimate(
        t=t, emotion=emotion, sentiment=(0.2, 0.5, 0.3), valence=0.55, arousal=0.45, dominant=top,
        confidence=0.6, modalities=modalities, weights=(("face", 1.0), ("voice", 0.0), ("text", 0.0)),
        faces=(FaceBox(10, 20, 30, 40, track_id=1),) if face else (), latency_ms=(("face", 12.0), ("total", 20.5)),
        transcript=transcript)
