"""The WebSocket's JSON messages (schema ``emolive.live``, version 1; docs/outputs.md documents every field).

Numbers are the CSV's (same rounding), so a client sees what the recording holds. ``problems(message)`` checks a
message against the schema (for clients' tests and ours).
"""

from __future__ import annotations

import math
from typing import Any

from emolive import __version__
from emolive.core.contracts import EmotionEstimate, TranscriptSegment
from emolive.core.labels import EMOTIONS, SENTIMENTS
from emolive.outputs.clock import ClockMapping
from emolive.recording import schema

SCHEMA = "emolive.live"
VERSION = 1
TYPES = ("hello", "estimate", "segment", "marker")


def _num(cell: schema.Cell) -> float | None:
    if cell == "" or cell is None:
        return None
    value = float(cell)
    return value if math.isfinite(value) else None


def hello(mapping: ClockMapping, hop_s: float) -> dict[str, Any]:
    """The first message of every connection: what the following ones contain."""
    return {"type": "hello", "schema": SCHEMA, "version": VERSION, "app_version": __version__,
            "emotions": list(EMOTIONS), "sentiments": list(SENTIMENTS), "modalities": list(schema.MODALITIES),
            "hop_s": hop_s, "clock": mapping.as_dict()}


class EstimateMessages:
    """Builds ``estimate`` messages from the CSV row of a step."""

    def __init__(self, mapping: ClockMapping) -> None:
        self.mapping = mapping
        header = schema.header()
        self._index = {name: i for i, name in enumerate(header)}

    def __call__(self, estimate: EmotionEstimate) -> dict[str, Any]:
        cells = schema.row(estimate)

        def cell(name: str) -> schema.Cell:
            return cells[self._index[name]]

        channels = {m: {"present": bool(cell(f"{m}_present")), "quality": _num(cell(f"{m}_quality")),
                        "weight": _num(cell(f"{m}_weight")), "top": str(cell(f"{m}_top")) or None}
                    for m in schema.MODALITIES}
        return {
            "type": "estimate", "version": VERSION, "t": _num(cell("t")),
            "lsl_time": None if self.mapping.lsl_s is None else round(self.mapping.to_lsl(estimate.t), 6),
            "unix_time": round(self.mapping.unix_s + estimate.t - self.mapping.session_s, 6),
            "dominant": estimate.dominant, "confidence": _num(cell("confidence")),
            "emotion": {e: _num(cell(f"emo_{e}")) for e in EMOTIONS},
            "sentiment": {s: _num(cell(f"sent_{s}")) for s in SENTIMENTS},
            "valence": _num(cell("valence")), "arousal": _num(cell("arousal")), "agreement": _num(cell("agreement")),
            "channels": channels, "transcript": str(cell("transcript")),
        }


def segment(seg: TranscriptSegment) -> dict[str, Any]:
    return {"type": "segment", "version": VERSION, "text": " ".join(seg.text.split()),
            "start": round(seg.start, 4), "end": round(seg.end, 4), "committed": seg.committed,
            "confidence": round(seg.confidence, 4)}


def marker(label: str, t: float) -> dict[str, Any]:
    return {"type": "marker", "version": VERSION, "t": round(t, 4), "label": label}


# --- the schema, as a check -------------------------------------------------------------------------------
_NUMBER = (int, float)


def _is(value: Any, kinds: tuple[type, ...], nullable: bool = False) -> bool:
    if value is None:
        return nullable
    return isinstance(value, kinds) and not isinstance(value, bool) if kinds == _NUMBER else isinstance(value, kinds)


def problems(message: Any) -> list[str]:
    """What is wrong with ``message`` against schema version 1 (empty when it is valid)."""
    if not isinstance(message, dict):
        return ["a message is a JSON object"]
    kind = message.get("type")
    if kind not in TYPES:
        return [f"type must be one of {', '.join(TYPES)}, got {kind!r}"]
    out = [] if message.get("version") == VERSION else [f"version must be {VERSION}"]
    fields: dict[str, tuple[tuple[type, ...], bool]] = {
        "hello": {"schema": ((str,), False), "app_version": ((str,), False), "emotions": ((list,), False),
                  "sentiments": ((list,), False), "modalities": ((list,), False), "hop_s": (_NUMBER, False),
                  "clock": ((dict,), False)},
        "estimate": {"t": (_NUMBER, False), "lsl_time": (_NUMBER, True), "unix_time": (_NUMBER, False),
                     "dominant": ((str,), False), "confidence": (_NUMBER, True), "emotion": ((dict,), False),
                     "sentiment": ((dict,), False), "valence": (_NUMBER, True), "arousal": (_NUMBER, True),
                     "agreement": (_NUMBER, True), "channels": ((dict,), False), "transcript": ((str,), False)},
        "segment": {"text": ((str,), False), "start": (_NUMBER, False), "end": (_NUMBER, False),
                    "committed": ((bool,), False), "confidence": (_NUMBER, False)},
        "marker": {"t": (_NUMBER, False), "label": ((str,), False)},
    }[kind]
    for name, (kinds, nullable) in fields.items():
        if name not in message:
            out.append(f"{kind}: {name} is missing")
        elif not _is(message[name], kinds, nullable):
            out.append(f"{kind}: {name} has the wrong type ({type(message[name]).__name__})")
    if kind == "estimate" and not out:
        if message["dominant"] not in (*EMOTIONS, "uncertain"):
            out.append(f"estimate: dominant {message['dominant']!r} is not an emotion nor 'uncertain'")
        for group, names in (("emotion", EMOTIONS), ("sentiment", SENTIMENTS)):
            if sorted(message[group]) != sorted(names):
                out.append(f"estimate: {group} must have the keys {', '.join(names)}")
            elif not all(_is(v, _NUMBER, True) for v in message[group].values()):
                out.append(f"estimate: {group} values must be numbers or null")
        for name, channel in message["channels"].items():
            if name not in schema.MODALITIES or not isinstance(channel, dict) or not isinstance(
                    channel.get("present"), bool):
                out.append(f"estimate: channels.{name} must be an object with a boolean 'present'")
    return out
