"""The versioned CSV schema shared by session recording, `emolive analyze` and `emolive replay`.

One row per inference step and person in view (long format, ``rows``): the primary person's row (``row``)
carries the fused estimate and the voice and words, each other scored person's row only their face; a marker is
a row of its own whose estimate columns are empty. The column
set identifies the version (see ``version_of``); docs/csv_schema.md documents every column.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from emolive.core.contracts import EmotionEstimate, FaceBox, PersonEstimate
from emolive.core.errors import EmoliveError
from emolive.core.labels import EMOTIONS, SENTIMENTS
from emolive.fusion.va import channel_va

SCHEMA_VERSION = 4
MODALITIES: tuple[str, ...] = ("face", "voice", "text")
PROB_DIGITS = 6  # probabilities, valence, arousal, quality, weights
TIME_DIGITS = 4  # seconds on the session clock (0.1 ms)

Cell = str | float | int


def emotion_columns() -> list[str]:
    return [f"emo_{name}" for name in EMOTIONS]


def sentiment_columns() -> list[str]:
    return [f"sent_{name}" for name in SENTIMENTS]


def modality_columns(modality: str) -> list[str]:
    return [f"{modality}_present", f"{modality}_quality", f"{modality}_top", f"{modality}_weight"]


BOX_COLUMNS: tuple[str, ...] = ("box_x", "box_y", "box_w", "box_h")
# Schema 2: each channel's own valence/arousal (emolive.fusion.va.channel_va), appended at the end.
VA_COLUMNS: tuple[str, ...] = tuple(f"{m}_{d}" for m in MODALITIES for d in ("valence", "arousal"))


# Columns added after version 1, in file order (each version appends at the end).
# Schema 3: why a channel's fusion weight was cut (EmotionEstimate.discounts), one text column.
# Schema 4: who the row is about (FaceBox.person / person_id); several people in view give a row each.
ADDED_COLUMNS: dict[int, tuple[str, ...]] = {2: ("agreement", *VA_COLUMNS), 3: ("discounts",),
                                             4: ("person", "person_id")}


def header(version: int = SCHEMA_VERSION) -> list[str]:
    """Column names of schema ``version`` (default the current one), in file order."""
    columns = ["t", *emotion_columns(), *sentiment_columns(), "valence", "arousal", "dominant", "confidence"]
    for modality in MODALITIES:
        columns += modality_columns(modality)
    columns = [*columns, *BOX_COLUMNS, "transcript", "latency_ms", "degraded", "marker"]
    for v in range(2, version + 1):
        columns += ADDED_COLUMNS[v]
    return columns


TEXT_COLUMNS: frozenset[str] = frozenset(
    {"dominant", "transcript", "degraded", "marker", "discounts", "person", *(f"{m}_top" for m in MODALITIES)})


def _num(value: float | None, digits: int = PROB_DIGITS) -> Cell:
    if value is None or not math.isfinite(value):
        return ""
    return round(float(value), digits)


def _one_line(text: str) -> str:
    """Transcripts and labels stay on one physical line so a truncated file still splits into rows."""
    return " ".join(text.split())


def _top(probs: Sequence[float] | None) -> str:
    if not probs:
        return ""
    best = max(range(len(probs)), key=lambda i: probs[i])
    return EMOTIONS[best] if best < len(EMOTIONS) else ""


def row(estimate: EmotionEstimate, marker: str = "") -> list[Cell]:
    """The primary row of ``estimate`` (``marker`` labels the step; usually empty): the fused estimate, every
    channel, the subject's face box and who they are (empty without a face or a person)."""
    if len(estimate.emotion) != len(EMOTIONS) or len(estimate.sentiment) != len(SENTIMENTS):
        raise ValueError(f"estimate at t={estimate.t} has {len(estimate.emotion)} emotion and "
                         f"{len(estimate.sentiment)} sentiment probabilities")
    cells: list[Cell] = [_num(estimate.t, TIME_DIGITS)]
    cells += [_num(p) for p in estimate.emotion]
    cells += [_num(p) for p in estimate.sentiment]
    cells += [_num(estimate.valence), _num(estimate.arousal), estimate.dominant, _num(estimate.confidence)]
    weights = dict(estimate.weights)
    for name in MODALITIES:
        out = estimate.modality(name)
        present = out is not None and out.present
        cells += [int(present), _num(out.quality) if out is not None else "",
                  _top(out.emotion) if present else "", _num(weights.get(name))]
    box = estimate.faces[0] if estimate.faces else None  # the subject: the worker puts the primary face first
    cells += [box.x, box.y, box.w, box.h] if box is not None else ["", "", "", ""]
    total = dict(estimate.latency_ms).get("total")
    cells += [_one_line(estimate.transcript), _num(total, 2), _one_line(estimate.degraded), _one_line(marker)]
    cells += [_num(estimate.agreement)]
    for name in MODALITIES:
        va = channel_va(estimate.modality(name))
        cells += [_num(va[0]), _num(va[1])] if va is not None else ["", ""]
    cells += [_one_line("; ".join(reason for _, reason in estimate.discounts))]
    cells += _person_cells(box)
    return cells


def _person_cells(box: FaceBox | None) -> list[Cell]:
    if box is None or box.person_id is None:
        return ["", ""]
    return [_one_line(box.person), box.person_id]


def person_row(estimate: EmotionEstimate, person: PersonEstimate) -> list[Cell]:
    """The row of a scored person other than the primary: time, their face columns (present, quality, top;
    no fusion weight), box, face valence/arousal and who they are; every fused, voice and words cell empty."""
    columns = header()
    cells: list[Cell] = [""] * len(columns)
    face = person.face
    values: dict[str, Cell] = {"t": _num(estimate.t, TIME_DIGITS), "face_present": int(face.present),
                               "face_quality": _num(face.quality), "face_top": _top(face.emotion)}
    values.update(zip(BOX_COLUMNS, (person.box.x, person.box.y, person.box.w, person.box.h), strict=True))
    va = channel_va(face)
    if va is not None:
        values["face_valence"], values["face_arousal"] = _num(va[0]), _num(va[1])
    values["person"], values["person_id"] = _person_cells(person.box)
    for name, value in values.items():
        cells[columns.index(name)] = value
    return cells


def rows(estimate: EmotionEstimate) -> list[list[Cell]]:
    """The rows of one step (long format): the primary row (``row``), then one row per other scored person
    (``person_row``), largest face first; one row when one person, or nobody, is in view."""
    return [row(estimate), *(person_row(estimate, p) for p in estimate.people if not p.primary)]


def marker_row(t: float, label: str) -> list[Cell]:
    """A marker row: time and label, every estimate column empty."""
    cells: list[Cell] = [""] * len(header())
    cells[0] = _num(t, TIME_DIGITS)
    cells[header().index("marker")] = _one_line(label)
    return cells


def version_of(columns: Sequence[str]) -> int:
    """The schema version a CSV header belongs to; EmoliveError for an unknown header."""
    for version in range(SCHEMA_VERSION, 0, -1):
        if list(columns) == header(version):
            return version
    missing = [c for c in header() if c not in columns]
    raise EmoliveError(f"not an emolive estimates CSV (schema {SCHEMA_VERSION}): "
                       f"{len(missing)} expected columns missing, e.g. {missing[:3]}")


def _parse(column: str, value: str) -> str | float | None:
    if column in TEXT_COLUMNS:
        return value
    if value == "":
        return None
    try:
        return float(value)
    except ValueError:
        return value


def read_csv(path: str | Path) -> list[dict[str, str | float | None]]:
    """Rows of an estimates CSV as dicts (numbers as float, empty numbers as None).

    A last line cut short (the process was killed mid-write) is dropped; any other damage is an error.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            lines = list(csv.reader(handle))
    except FileNotFoundError:
        raise EmoliveError(f"CSV not found: {path}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise EmoliveError(f"cannot read CSV {path}: {exc}") from exc
    if not lines:
        raise EmoliveError(f"{path} is empty (no header)")
    columns = lines[0]
    version_of(columns)
    body = lines[1:]
    if body and len(body[-1]) != len(columns):
        body = body[:-1]
    rows = []
    for number, cells in enumerate(body, start=2):
        if len(cells) != len(columns):
            raise EmoliveError(f"{path}:{number}: {len(cells)} fields, expected {len(columns)}")
        rows.append({c: _parse(c, v) for c, v in zip(columns, cells, strict=True)})
    return rows


def format_rows(rows: Iterable[Sequence[Cell]]) -> str:
    """Rows as CSV text with ``\\n`` line ends."""
    import io

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()
