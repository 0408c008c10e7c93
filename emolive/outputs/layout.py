"""The numeric channels of the live outputs: the CSV's columns of one step, as float32 samples."""

from __future__ import annotations

import math
from dataclasses import dataclass

from emolive.core.contracts import EmotionEstimate
from emolive.core.labels import EMOTIONS, SENTIMENTS
from emolive.recording import schema


@dataclass(frozen=True)
class Channel:
    """One channel: its label (the CSV column of the same value), unit and content type (XDF meta-data)."""

    label: str
    unit: str
    type: str


def channels() -> tuple[Channel, ...]:
    """The outlet's channels in sample order: emotions, sentiments, valence, arousal, confidence, agreement, then
    each modality's fusion weight and presence."""
    out = [Channel(f"emo_{name}", "probability", "Emotion") for name in EMOTIONS]
    out += [Channel(f"sent_{name}", "probability", "Sentiment") for name in SENTIMENTS]
    out += [Channel("valence", "normalized", "Valence"), Channel("arousal", "normalized", "Arousal"),
            Channel("confidence", "probability", "Confidence"), Channel("agreement", "normalized", "Agreement")]
    for modality in schema.MODALITIES:
        out += [Channel(f"{modality}_weight", "normalized", "Weight"),
                Channel(f"{modality}_present", "boolean", "Presence")]
    return tuple(out)


class SampleLayout:
    """Picks the channels' values out of a step's CSV row, so a sample equals (in float32) what is recorded;
    an empty cell (no agreement, no weight) becomes NaN."""

    def __init__(self) -> None:
        self.channels = channels()
        header = schema.header()
        self._columns = [header.index(c.label) for c in self.channels]

    def __len__(self) -> int:
        return len(self.channels)

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self.channels]

    def sample(self, estimate: EmotionEstimate) -> list[float]:
        cells = schema.row(estimate)
        return [_number(cells[i]) for i in self._columns]


def _number(cell: schema.Cell) -> float:
    if isinstance(cell, int | float):
        return float(cell)
    try:
        return float(cell) if cell != "" else math.nan
    except ValueError:
        return math.nan
