"""Find and label speech clips: RAVDESS trees (labels in the file name) and one-folder-per-class trees.

Four corpora are recognised by their file names, each with its speaker (the key of speaker-disjoint splits):
RAVDESS ``MM-VV-EE-II-SS-RR-AA`` (actor AA), nEMO ``<speaker>_<emotion>_<n>`` (e.g. ``KS0``), ASED
``<e><n>-<sentence>-<take>-<gender>-<speaker>`` (speaker 01-65) and TESS-style ``<speaker>_<word>`` under a
class folder. Labels go through the one alias table (``emolive.core.labels.canonical_emotion``): RAVDESS "calm" ->
neutral, TESS "pleasant_surprise"/"ps" and nEMO "surprised" -> surprise, "happy"/"happiness" -> joy, ...
A class a corpus lacks is simply absent from it. Unknown classes are kept with ``label=None`` so callers can
skip and count them.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from emolive.core.errors import MediaError
from emolive.core.labels import EMOTIONS, canonical_emotion

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".opus", ".mp3", ".m4a", ".aac", ".webm"})

RAVDESS_EMOTIONS: dict[str, str] = {
    "01": "neutral", "02": "calm", "03": "happy", "04": "sad",
    "05": "angry", "06": "fearful", "07": "disgust", "08": "surprised",
}
_RAVDESS_RE = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
# nEMO: KS0_anger_12; the speaker id is two capitals and a digit, the emotion one of nEMO's six.
NEMO_EMOTIONS = frozenset({"neutral", "sadness", "happiness", "anger", "fear", "surprised"})
_NEMO_RE = re.compile(r"^([A-Z]{2}\d)_([a-z]+)_(\d+)$")
# ASED: a5-03-01-02-50 = angry (a, class 5), sentence 03, take 01, gender 02 (male), speaker 50.
ASED_EMOTIONS: dict[str, str] = {"n": "neutral", "f": "fear", "h": "happy", "s": "sad", "a": "angry"}
_ASED_RE = re.compile(r"^([A-Za-z])(\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")

# Circumplex placement (Russell 1980) of each canonical class on the arousal axis, in [0, 1]; RAVDESS "calm"
# sits below neutral and "strong" intensity adds STRONG_AROUSAL_BOOST. Documented in the model card.
AROUSAL: dict[str, float] = {
    "neutral": 0.30, "joy": 0.70, "sadness": 0.30, "anger": 0.85,
    "fear": 0.80, "disgust": 0.55, "surprise": 0.85,
}
CALM_AROUSAL = 0.20
STRONG_AROUSAL_BOOST = 0.10


@dataclass(frozen=True)
class RavdessName:
    """The seven fields of a RAVDESS file name ``MM-VV-EE-II-SS-RR-AA``."""

    modality: int
    vocal_channel: int
    emotion: str  # RAVDESS spelling: neutral, calm, happy, sad, angry, fearful, disgust, surprised
    intensity: int  # 1 normal, 2 strong
    statement: int
    repetition: int
    actor: int

    @property
    def female(self) -> bool:
        return self.actor % 2 == 0


def parse_ravdess_name(name: str | Path) -> RavdessName | None:
    """Parse a RAVDESS file name (with or without folder and extension); None when it is not one."""
    match = _RAVDESS_RE.match(Path(name).name.split(".")[0])
    if match is None:
        return None
    mm, vv, ee, ii, ss, rr, aa = match.groups()
    if ee not in RAVDESS_EMOTIONS:
        return None
    return RavdessName(int(mm), int(vv), RAVDESS_EMOTIONS[ee], int(ii), int(ss), int(rr), int(aa))


@dataclass(frozen=True)
class SpeakerName:
    """What a nEMO or ASED file name says: the corpus, the speaker id and the corpus's emotion spelling."""

    corpus: str
    speaker: str
    emotion: str


def parse_nemo_name(name: str | Path) -> SpeakerName | None:
    """Parse a nEMO file name ``<speaker>_<emotion>_<n>`` (e.g. ``KS0_surprised_3.opus``); None otherwise."""
    match = _NEMO_RE.match(Path(name).name.split(".")[0])
    if match is None or match.group(2) not in NEMO_EMOTIONS:
        return None
    return SpeakerName("nemo", match.group(1), match.group(2))


def parse_ased_name(name: str | Path) -> SpeakerName | None:
    """Parse an ASED file name ``<e><n>-<sentence>-<take>-<gender>-<speaker>``; None otherwise."""
    match = _ASED_RE.match(Path(name).name.split(".")[0])
    if match is None or match.group(1).lower() not in ASED_EMOTIONS or match.group(5) not in ("01", "02"):
        return None
    return SpeakerName("ased", f"{int(match.group(6)):02d}", ASED_EMOTIONS[match.group(1).lower()])


@dataclass(frozen=True)
class Clip:
    """One labelled clip. ``label`` indexes EMOTIONS, or is None for a class with no canonical equivalent."""

    path: Path
    raw_label: str
    label: int | None
    speaker: str  # grouping key for speaker-independent splits
    arousal: float | None
    corpus: str  # "ravdess", "nemo", "ased", or the class-folder tree's own folder name (e.g. "tess")


def arousal_target(raw_label: str, intensity: int | None = None) -> float | None:
    """Arousal in [0, 1] from the class (circumplex placement) and RAVDESS intensity (2 = strong)."""
    canon = canonical_emotion(raw_label)
    if canon is None:
        return None
    base = CALM_AROUSAL if raw_label.strip().lower() == "calm" else AROUSAL[canon]
    if intensity == 2:
        base += STRONG_AROUSAL_BOOST
    return float(min(1.0, max(0.0, base)))


def _clip(path: Path, raw: str, speaker: str, corpus: str, intensity: int | None = None) -> Clip:
    canon = canonical_emotion(raw)
    label = None if canon is None else EMOTIONS.index(canon)
    return Clip(path, raw, label, speaker, arousal_target(raw, intensity), corpus)


def audio_files(root: Path) -> list[Path]:
    """All audio files under ``root`` (sorted, hidden files ignored)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
                  and not p.name.startswith("."))


def find_clips(root: str | Path) -> list[Clip]:
    """Labelled clips under ``root``.

    Files named like RAVDESS take their label from the name (speaker = actor, corpus "ravdess"). nEMO and ASED
    names give the speaker (corpus "nemo" / "ased") and their label (the class folder must agree, else the clip
    is counted as unknown). Any other file takes its label from its first folder below ``root`` (speaker = the
    file-name part before the first "_", as in TESS's ``OAF_word``; corpus = the name of ``root``).
    Speakers are prefixed with their corpus (``ravdess_03``, ``nemo_KS0``, ``ased_50``, ``tess_OAF``).
    Raises MediaError for a missing folder or one without audio files.
    """
    root = Path(root)
    if not root.is_dir():
        raise MediaError(f"data folder not found: {root}")
    files = audio_files(root)
    if not files:
        raise MediaError(f"no audio files ({', '.join(sorted(AUDIO_EXTENSIONS))}) under {root}")
    clips: list[Clip] = []
    for path in files:
        parsed = parse_ravdess_name(path)
        if parsed is not None:
            clips.append(_clip(path, parsed.emotion, f"ravdess_{parsed.actor:02d}", "ravdess", parsed.intensity))
            continue
        rel = path.relative_to(root)
        named = parse_nemo_name(path) or parse_ased_name(path)
        if named is not None:
            folder = rel.parts[0] if len(rel.parts) >= 2 else named.emotion
            raw = named.emotion if canonical_emotion(folder) == canonical_emotion(named.emotion) else folder
            if raw != named.emotion:
                log.warning("%s: class folder %r disagrees with the file name", path, folder)
                raw = f"{folder}|{named.emotion}"
            clips.append(_clip(path, raw, f"{named.corpus}_{named.speaker}", named.corpus))
            continue
        if len(rel.parts) < 2:
            clips.append(Clip(path, "", None, "", None, root.name))
            continue
        speaker = path.stem.split("_")[0] if "_" in path.stem else rel.parts[0]
        clips.append(_clip(path, rel.parts[0], f"{root.name}_{speaker}", root.name))
    counts = Counter(EMOTIONS[c.label] for c in clips if c.label is not None)
    log.info("%s: %d clips %s", root, len(clips), dict(counts))
    return clips


def skipped_counts(clips: list[Clip]) -> dict[str, int]:
    """How many clips have no canonical class, keyed ``unknown class NAME`` (or ``no class folder``)."""
    out: Counter[str] = Counter()
    for clip in clips:
        if clip.label is None:
            out[f"unknown class {clip.raw_label}" if clip.raw_label else "no class folder"] += 1
    return dict(out)
