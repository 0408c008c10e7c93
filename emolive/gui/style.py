"""Fixed colours and symbols per emotion/sentiment, shared by the overlay, plots and transcript."""

from __future__ import annotations

# One colour per emotion, the same in every view (hex RGB, readable on dark and light backgrounds).
EMOTION_COLORS: dict[str, str] = {
    "neutral": "#9e9e9e",
    "joy": "#f4c430",
    "sadness": "#3f7fd9",
    "anger": "#e0403a",
    "fear": "#9b59b6",
    "disgust": "#4caf50",
    "surprise": "#ff80ab",
    "uncertain": "#c8c8c8",
}

EMOTION_EMOJI: dict[str, str] = {
    "neutral": "\N{NEUTRAL FACE}",
    "joy": "\N{SMILING FACE WITH SMILING EYES}",
    "sadness": "\N{DISAPPOINTED FACE}",
    "anger": "\N{POUTING FACE}",
    "fear": "\N{FEARFUL FACE}",
    "disgust": "\N{NAUSEATED FACE}",
    "surprise": "\N{FACE WITH OPEN MOUTH}",
    "uncertain": "\N{THINKING FACE}",
}

SENTIMENT_COLORS: dict[str, str] = {"negative": "#e0403a", "neutral": "#9e9e9e", "positive": "#4caf50"}

VALENCE_COLOR = "#00bcd4"
AROUSAL_COLOR = "#ff9800"

PLOTS_MIN_HEIGHT = 270  # the traces' controls, two plots and the nine-entry legend: the splitter keeps at least this

# Modality indicator states: trusted (present, good quality, fresh), weak (present but low quality
# or stale), absent.
INDICATOR_COLORS: dict[str, str] = {"trusted": "#43a047", "weak": "#fbc02d", "stale": "#fb8c00", "absent": "#616161"}
