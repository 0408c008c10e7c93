"""The numeric channels of the live outputs: the CSV's columns of one step, as float32 samples."""

from __future__ import annotations

import math
from dataclasses import dataclass

from emolive.core.contracts import EmotionEstimate, PersonEstimate
from emolive.core.labels import EMOTIONS, SENTIMENTS
from emolive.recording import schema


@dataclass(frozen=True)
class Channel:
    """One channel: its label (the CSV column of the same value), unit and content type (XDF meta-data)."""

    label: str
    unit: str
    type: str


PERSON_ID = "person_id"  # the last channel: whose estimate this is (the primary row's CSV column)


def primary_person(estimate: EmotionEstimate) -> PersonEstimate | None:
    """The person the estimate's fused values belong to (None: people off, or nobody in view)."""
    return next((p for p in estimate.people if p.primary), None)


def channels() -> tuple[Channel, ...]:
    """The outlet's channels in sample order: emotions, sentiments, valence, arousal, confidence, agreement, then
    each modality's fusion weight and presence, then the primary person's id."""
    out = [Channel(f"emo_{name}", "probability", "Emotion") for name in EMOTIONS]
    out += [Channel(f"sent_{name}", "probability", "Sentiment") for name in SENTIMENTS]
    out += [Channel("valence", "normalized", "Valence"), Channel("arousal", "normalized", "Arousal"),
            Channel("confidence", "probability", "Confidence"), Channel("agreement", "normalized", "Agreement")]
    for modality in schema.MODALITIES:
        out += [Channel(f"{modality}_weight", "normalized", "Weight"),
                Channel(f"{modality}_present", "boolean", "Presence")]
    out.append(Channel(PERSON_ID, "id", "PersonId"))
    return tuple(out)


class SampleLayout:
    """Picks the channels' values out of a step's CSV row, so a sample equals (in float32) what is recorded;
    an empty cell (no agreement, no weight, no person) becomes NaN. The row is the step's primary row (``person_id``:
    the primary person's id)."""

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
