"""Read MELD-format CSVs (Utterance, Emotion, Sentiment, Dialogue_ID, Utterance_ID) into labelled rows."""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from emolive.core.errors import EmoliveError
from emolive.core.labels import EMOTIONS, SENTIMENTS, canonical_emotion, canonical_sentiment
from emolive.text.normalize import normalize_text

log = logging.getLogger(__name__)

REQUIRED = ("Utterance", "Emotion", "Sentiment")
CONTEXT_COLUMNS = ("Dialogue_ID", "Utterance_ID")


class DataError(EmoliveError):
    """A MELD CSV is missing, unreadable or malformed."""


@dataclass(frozen=True)
class Utterance:
    """One labelled utterance; ``emotion``/``sentiment`` index labels.EMOTIONS / SENTIMENTS."""

    text: str
    emotion: int
    sentiment: int
    dialogue: str = ""
    index: int = 0  # position within the dialogue (Utterance_ID)


def load_meld_csv(path: Path, require_context: bool = False) -> list[Utterance]:
    """Parse a MELD-format CSV; the text is normalised with ``normalize_text``.

    Raises DataError naming the file and the first bad row (1-based line number of the data row, header
    is line 1) or the missing columns. Context columns are optional unless ``require_context``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"MELD CSV not found: {path}")
    try:
        header, rows = _read(path, "utf-8-sig")
    except UnicodeDecodeError:
        # Some MELD releases are Windows-1252; normalize_text repairs what that leaves behind.
        header, rows = _read(path, "cp1252", errors="replace")
    wanted = REQUIRED + (CONTEXT_COLUMNS if require_context else ())
    missing = [c for c in wanted if c not in header]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} (found: {', '.join(header) or 'none'})")
    if not rows:
        raise DataError(f"{path}: no data rows")
    has_context = all(c in header for c in CONTEXT_COLUMNS)
    out: list[Utterance] = []
    for line, row in enumerate(rows, start=2):
        out.append(_parse(row, has_context, f"{path}: line {line}"))
    log.info("read %d utterances from %s", len(out), path)
    return out


def _read(path: Path, encoding: str, errors: str = "strict") -> tuple[list[str], list[dict[str, str | None]]]:
    """Header and rows of a CSV file; unreadable files become DataError."""
    try:
        with path.open(encoding=encoding, errors=errors, newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            return list(reader.fieldnames or []), rows
    except UnicodeDecodeError:
        raise
    except (OSError, csv.Error) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc


def _parse(row: dict[str, str | None], has_context: bool, where: str) -> Utterance:
    text = row.get("Utterance")
    emotion_name, sentiment_name = row.get("Emotion"), row.get("Sentiment")
    if text is None or emotion_name is None or sentiment_name is None:
        raise DataError(f"{where}: too few fields")
    emotion = canonical_emotion(emotion_name)
    if emotion is None:
        raise DataError(f"{where}: unknown emotion {emotion_name!r} (expected one of {', '.join(EMOTIONS)})")
    sentiment = canonical_sentiment(sentiment_name)
    if sentiment is None:
        raise DataError(f"{where}: unknown sentiment {sentiment_name!r} "
                        f"(expected one of {', '.join(SENTIMENTS)})")
    dialogue, index = "", 0
    if has_context:
        dialogue = (row.get("Dialogue_ID") or "").strip()
        try:
            index = int((row.get("Utterance_ID") or "").strip())
        except ValueError:
            raise DataError(f"{where}: Utterance_ID {row.get('Utterance_ID')!r} is not an integer") from None
    return Utterance(normalize_text(text), EMOTIONS.index(emotion), SENTIMENTS.index(sentiment), dialogue, index)


def previous_utterances(rows: Sequence[Utterance], k: int) -> list[tuple[str, ...]]:
    """For each row, the texts of up to ``k`` earlier utterances of its dialogue, oldest first.

    Rows without dialogue ids get no context. Order within a dialogue follows Utterance_ID.
    """
    by_dialogue: dict[str, list[Utterance]] = {}
    for row in rows:
        if row.dialogue:
            by_dialogue.setdefault(row.dialogue, []).append(row)
    position: dict[tuple[str, int], tuple[str, ...]] = {}
    for dialogue, items in by_dialogue.items():
        items = sorted(items, key=lambda r: r.index)
        for i, row in enumerate(items):
            position[(dialogue, row.index)] = tuple(r.text for r in items[max(0, i - k):i])
    if k <= 0:
        return [() for _ in rows]
    return [position.get((row.dialogue, row.index), ()) if row.dialogue else () for row in rows]


VA_REQUIRED = ("text", "V", "A")


@dataclass(frozen=True)
class RatedText:
    """A text with valence and arousal ratings on EmoBank's 1-5 scale."""

    text: str
    valence: float
    arousal: float


def load_va_csv(path: Path, split: str | None = None) -> list[RatedText]:
    """Rows of a CSV with ``text``, ``V`` and ``A`` columns (ratings 1-5, EmoBank's format).

    ``split`` keeps only the rows whose ``split`` column has that value. The text is normalised with
    ``normalize_text``. Raises DataError for a missing file, missing columns or a rating that is not a
    number in [1, 5] (naming the line).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"CSV not found: {path}")
    try:
        header, rows = _read(path, "utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None
    wanted = VA_REQUIRED + (("split",) if split is not None else ())
    missing = [c for c in wanted if c not in header]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} (found: {', '.join(header) or 'none'})")
    out: list[RatedText] = []
    for line, row in enumerate(rows, start=2):
        if split is not None and (row.get("split") or "").strip() != split:
            continue
        values = []
        for column in ("V", "A"):
            raw = (row.get(column) or "").strip()
            try:
                value = float(raw)
            except ValueError:
                raise DataError(f"{path}: line {line}: {column} {raw!r} is not a number") from None
            if not 1.0 <= value <= 5.0:
                raise DataError(f"{path}: line {line}: {column} {value} is outside the 1-5 rating scale")
            values.append(value)
        out.append(RatedText(normalize_text(row.get("text") or ""), values[0], values[1]))
    if not out:
        raise DataError(f"{path}: no data rows" + (f" with split {split!r}" if split is not None else ""))
    log.info("read %d rated texts from %s", len(out), path)
    return out
