"""How the shipped model derives valence, arousal and sentiment from emotion probabilities.

Each emotion class gets a fixed place on Russell's circumplex (valence, arousal in [0, 1]); the place of a
distribution is the probability-weighted mean of those places.
The coordinates are this project's own placement following the quadrants of Russell (1980), "A circumplex
model of affect", J. Pers. Soc. Psychol. 39(6): positive/negative valence on x, activation on y. They are a
documented convention, not a measurement. ``emolive.fusion.va`` decides where it is used: the text model's
own V/A (trained on EmoBank ratings) and the voice's arousal (RAVDESS intensity) replace it for their shares.
"""

from __future__ import annotations

import numpy as np

from emolive.core.labels import EMOTIONS

# (valence, arousal) per class, in labels.EMOTIONS order.
PLACEMENT: dict[str, tuple[float, float]] = {
    "neutral": (0.50, 0.30),
    "joy": (0.90, 0.70),
    "sadness": (0.15, 0.25),
    "anger": (0.15, 0.85),
    "fear": (0.10, 0.80),
    "disgust": (0.15, 0.55),
    "surprise": (0.60, 0.85),
}
VALENCE = np.array([PLACEMENT[e][0] for e in EMOTIONS], dtype=np.float64)
AROUSAL = np.array([PLACEMENT[e][1] for e in EMOTIONS], dtype=np.float64)

# Rows: emotions; columns: negative, neutral, positive. Surprise is split between neutral and positive.
SENTIMENT_OF_EMOTION = np.array(
    [
        [0.0, 1.0, 0.0],  # neutral
        [0.0, 0.0, 1.0],  # joy
        [1.0, 0.0, 0.0],  # sadness
        [1.0, 0.0, 0.0],  # anger
        [1.0, 0.0, 0.0],  # fear
        [1.0, 0.0, 0.0],  # disgust
        [0.0, 0.5, 0.5],  # surprise
    ]
)


def valence_arousal(emotion: np.ndarray) -> tuple[float, float]:
    """Probability-weighted circumplex place of an emotion distribution."""
    p = np.asarray(emotion, dtype=np.float64)
    p = p / max(p.sum(), 1e-12)
    return float(p @ VALENCE), float(p @ AROUSAL)


def sentiment_from_emotion(emotion: np.ndarray) -> np.ndarray:
    """Negative/neutral/positive probabilities implied by an emotion distribution."""
    p = np.asarray(emotion, dtype=np.float64)
    return (p / max(p.sum(), 1e-12)) @ SENTIMENT_OF_EMOTION
