"""The WebSocket's JSON messages (schema ``emolive.live``, version 1; docs/outputs.md documents every field).

Numbers are the CSV's (same rounding), so a client sees what the recording holds. ``problems(message)`` checks a
message against the schema (for clients' tests and ours).
"""

from __future__ import annotations

import math
from typing import Any

from emolive import __version__
from emolive.core.contracts import EmotionEstimate, PersonEstimate, TranscriptSegment
from emolive.core.labels import EMOTIONS, SENTIMENTS
from emolive.outputs.clock import ClockMapping
from emolive.outputs.layout import primary_person
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
            "person": _person(primary_person(estimate)), "people": [_face_of(p) for p in estimate.people],
        }


def _person(person: PersonEstimate | None) -> dict[str, Any] | None:
    return None if person is None else {"id": person.person_id, "name": person.name}


def _face_of(person: PersonEstimate) -> dict[str, Any]:
    """One person in view: who, where, and their face channel's reading (the CSV's rounding)."""
    face, box = person.face, person.box
    probs = face.emotion if face.present and face.emotion is not None and len(face.emotion) == len(EMOTIONS) else None
    return {"id": person.person_id, "name": person.name, "primary": person.primary,
            "box": [int(box.x), int(box.y), int(box.w), int(box.h)], "present": bool(face.present),
            "quality": _rounded(face.quality) if face.present else None,
            "top": EMOTIONS[max(range(len(probs)), key=lambda i: probs[i])] if probs else None,
            "emotion": {e: _rounded(v) for e, v in zip(EMOTIONS, probs, strict=True)} if probs else None}


def _rounded(value: float | None) -> float | None:
    """As the CSV rounds probabilities; None for no value or a non-finite one."""
    return None if value is None or not math.isfinite(value) else round(float(value), schema.PROB_DIGITS)


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
        out += _people_problems(message)
    return out


def _is_person(value: Any) -> bool:
    return isinstance(value, dict) and _is(value.get("id"), (int,)) and not isinstance(value.get("id"), bool) \
        and isinstance(value.get("name"), str)


def _people_problems(message: dict[str, Any]) -> list[str]:
    """``person`` and ``people``: added fields (no version change), so a message without them is valid too."""
    out = []
    if message.get("person") is not None and not _is_person(message["person"]):
        out.append("estimate: person must be null or an object with an integer 'id' and a string 'name'")
    people = message.get("people", [])
    if not isinstance(people, list):
        return [*out, "estimate: people must be a list"]
    for i, entry in enumerate(people):
        box = entry.get("box") if isinstance(entry, dict) else None
        if not (_is_person(entry) and isinstance(entry.get("primary"), bool) and isinstance(entry.get("present"), bool)
                and isinstance(box, list) and len(box) == 4 and all(_is(v, (int,)) for v in box)):
            out.append(f"estimate: people[{i}] must have an integer id, a name, booleans primary and present and a "
                       f"box of 4 integers")
    if sum(1 for e in people if isinstance(e, dict) and e.get("primary") is True) > 1:
        out.append("estimate: at most one of people is primary")
    return out
