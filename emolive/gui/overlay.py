"""What the video overlay shows, decided without Qt: options, per-modality indicator states, label text."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from emolive.core.contracts import EmotionEstimate, FaceBox, ModalityOutput
from emolive.core.labels import EMOTIONS

MODALITIES: tuple[str, ...] = ("face", "voice", "text")
TRUSTED_QUALITY = 0.5  # quality at or above which a present modality counts as trusted
# A modality whose input is older than this is shown as stale: a face or a voice goes stale quickly,
# what was said counts for longer (the pipeline's text_max_age_s defaults to 20 s).
STALE_AFTER_S: dict[str, float] = {"face": 1.0, "voice": 3.0, "text": 20.0}
ESTIMATE_STALE_S = 2.0  # an estimate this much older than the shown frame is drawn dimmed
AGREE_AT = 0.5  # channels whose readings share at least this much probability mass are shown as agreeing


@dataclass
class OverlayOptions:
    """Which overlay elements are drawn (each one a View menu toggle)."""

    face_box: bool = True
    label: bool = True
    indicators: bool = True
    colors: bool = True
    emoji: bool = False
    latency: bool = True


@dataclass(frozen=True)
class Indicator:
    modality: str
    state: str  # "trusted", "weak", "stale" or "absent" (keys of style.INDICATOR_COLORS)
    text: str  # short explanation, e.g. "no speech" or "q 0.82"


CHIP_NAMES: dict[str, str] = {"face": "face", "voice": "voice", "text": "words"}  # what a person reads


def chip_text(item: Indicator) -> str:
    """A modality chip's words, e.g. "voice: clear" or "words: not English"."""
    return f"{CHIP_NAMES.get(item.modality, item.modality)}: {item.text}"


def indicator(name: str, output: ModalityOutput | None, staleness: float | None) -> Indicator:
    """The indicator for one modality of an estimate."""
    if output is None or not output.present:
        reason = output.reason if output is not None and output.reason else "absent"
        return Indicator(name, "absent", reason)
    if staleness is not None and staleness > STALE_AFTER_S.get(name, 2.0):
        return Indicator(name, "stale", f"stale {staleness:.1f}s")
    if output.quality < TRUSTED_QUALITY:
        return Indicator(name, "weak", quality_words(output.quality))
    return Indicator(name, "trusted", quality_words(output.quality))


def label_top(box_top: float, box_bottom: float, height: float, view_top: float, view_bottom: float,
              gap: float = 4.0) -> float:
    """Top edge of the emotion label for a face box: above the box when it fits, else just below it when it fits
    there, else inside the box's top edge (the forehead): never over the mouth and chin."""
    if box_top - height - gap >= view_top:
        return box_top - height - gap
    if box_bottom + gap + height <= view_bottom:
        return box_bottom + gap
    return min(max(box_top, view_top) + gap, view_bottom - height)


def quality_words(quality: float) -> str:
    """A modality's input quality (0-1) in words: "clear", "fair" or "poor"."""
    return "clear" if quality >= 0.8 else "fair" if quality >= TRUSTED_QUALITY else "poor"


# LoadGovernor.describe() (also written to the CSV) -> what a person reads over the picture
_SHED_WORDS: tuple[tuple[str, str], ...] = (
    ("face every other step", "face and voice slowed to keep up; face every other step"),
    ("voice less often", "face detection and voice slowed to keep up"),
    ("face detection less often", "face detection slowed to keep up"),
)


def latency_text(total_ms: float | None, degraded: str) -> str:
    """The overlay's latency note, e.g. "step 42 ms" or "step 90 ms - face detection slowed to keep up"."""
    parts = [f"step {total_ms:.0f} ms"] if total_ms is not None else []
    if degraded:
        parts.append(next((words for key, words in _SHED_WORDS if key in degraded), f"slowed to keep up ({degraded})"))
    return " - ".join(parts)


def indicators(estimate: EmotionEstimate | None, loading: Iterable[str] = ()) -> list[Indicator]:
    """Indicators for face, voice and text, in that order (all absent before the first estimate); a channel in
    ``loading`` (its model still loading after the start) reads "loading" while it gives nothing."""
    loading = set(loading)
    if estimate is None:
        return [Indicator(name, "absent", "loading" if name in loading else "waiting") for name in MODALITIES]
    staleness = dict(estimate.staleness)
    reasons = dict(estimate.discounts)
    items = [discounted(indicator(name, estimate.modality(name), staleness.get(name)), reasons.get(name))
             for name in MODALITIES]
    return [Indicator(item.modality, "absent", "loading") if item.modality in loading and item.state == "absent"
            else item for item in items]


def discounted(item: Indicator, reason: str | None) -> Indicator:
    """A present channel whose fusion weight was cut reads as weak with the fusion's reason, e.g. "voice:
    disagrees 5 s" (the reason's own "voice: " prefix is left to ``chip_text``)."""
    if not reason or item.state == "absent":
        return item
    prefix = f"{CHIP_NAMES.get(item.modality, item.modality)}: "
    return Indicator(item.modality, "weak", reason[len(prefix):] if reason.startswith(prefix) else reason)


def label_text(estimate: EmotionEstimate, emoji: str = "") -> str:
    """``"joy 82%"``: the dominant emotion and its probability (emoji-prefixed when given).

    When the fuser says "uncertain", the most likely class is still named: ``"uncertain (joy 41%)"``.
    """
    prefix = f"{emoji} " if emoji else ""
    if not estimate.emotion:
        return f"{prefix}{estimate.dominant}"
    if estimate.dominant in EMOTIONS:
        return f"{prefix}{estimate.dominant} {estimate.emotion[EMOTIONS.index(estimate.dominant)] * 100:.0f}%"
    best = max(range(len(estimate.emotion)), key=lambda i: estimate.emotion[i])
    return f"{prefix}{estimate.dominant} ({EMOTIONS[best]} {estimate.emotion[best] * 100:.0f}%)"


def agreement_chip(estimate: EmotionEstimate | None) -> tuple[str, str] | None:
    """(text, state) of the chip that says whether face, voice and words tell the same story.

    ``("channels agree 0.82", "trusted")`` or ``("channels disagree 0.21", "weak")``; None when fewer
    than two channels are trusted (``estimate.agreement`` is None).
    """
    if estimate is None or estimate.agreement is None:
        return None
    if estimate.agreement >= AGREE_AT:
        return f"channels agree {estimate.agreement:.2f}", "trusted"
    return f"channels disagree {estimate.agreement:.2f}", "weak"


def primary_index(estimate: EmotionEstimate) -> int:
    """Which of ``estimate.faces`` the fused values belong to: the primary person's box, else the first (the
    subject); -1 without faces."""
    if not estimate.faces:
        return -1
    primary = next((p.person_id for p in estimate.people if p.primary), None)
    if primary is not None:
        for i, face in enumerate(estimate.faces):
            if face.person_id == primary:
                return i
    return 0


def person_label(estimate: EmotionEstimate, face: FaceBox, primary: bool, pinned: bool = False,
                 emoji: str = "") -> str:
    """A face's label: the primary's is the fused estimate with their name (``"Dr Ames (pinned) - joy 82%"``);
    another person's is their name and what their face alone shows (``"person 2 - face: sadness 51%"``)."""
    name = face.person + (" (pinned)" if pinned and face.person else "")
    if primary:
        text = label_text(estimate, emoji)
        return f"{name} - {text}" if name else text
    if not name:
        return ""
    mine = next((p.face for p in estimate.people if p.person_id == face.person_id), None)
    if mine is None or not mine.present or not mine.emotion:
        return name
    best = max(range(len(mine.emotion)), key=lambda i: mine.emotion[i])
    return f"{name} - face: {EMOTIONS[best]} {mine.emotion[best] * 100:.0f}%"
