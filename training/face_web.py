"""The web-photo face set (``faces_web``) for the face trainer: labels, identities, the split and the sampler.

``faces_web`` is an image folder of 96 px colour crops, ``<class>/<file>``, whose class folders use their own
spellings (``WEB_ALIASES``, an explicit table: a folder it does not name is skipped and counted). Photos of one
person share a name (``George_W_Bush_0001.jpg``, ``Dwarakish_14.jpg``): ``identity_of`` reads it, and
``identity_split`` puts every photo of a person on one side of the validation split. ``balanced_weights`` gives
each training image a sampling weight so that every source gets a stated share of the draws and, within a
source, classes are drawn in proportion to ``count ** power`` (0: all equal, 1: as they come).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import zipfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emolive.core.errors import EmoliveError
from emolive.core.labels import EMOTIONS
from emolive.face.folder import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

# faces_web folder name -> canonical emotion (contempt has none and is skipped).
WEB_ALIASES: dict[str, str | None] = {
    "neutral": "neutral",
    "happy": "joy",
    "happiness": "joy",
    "sad": "sadness",
    "sadness": "sadness",
    "angry": "anger",
    "anger": "anger",
    "fear": "fear",
    "disgust": "disgust",
    "surprise": "surprise",
    "contempt": None,
}

_NUMBERED = re.compile(r"^(?P<who>.+?)_\d+$")


def identity_of(name: str) -> str:
    """The person a photo shows, read from its file name: the stem without a trailing ``_<number>``
    (``George_W_Bush_0001.jpg`` -> ``George_W_Bush``). A stem without such a number is its own identity."""
    stem = Path(name).stem
    match = _NUMBERED.match(stem)
    return match.group("who") if match else stem


def list_web(root: Path) -> tuple[list[tuple[Path, int]], Counter[str]]:
    """Files of ``root/<class>/*`` with their index in labels.EMOTIONS through ``WEB_ALIASES``, sorted;
    the Counter counts the images of folders without a canonical class (``"unknown class: NAME"``)."""
    root = Path(root)
    if not root.is_dir():
        raise EmoliveError(f"web face folder not found: {root}")
    items: list[tuple[Path, int]] = []
    skipped: Counter[str] = Counter()
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(f for f in sub.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        emotion = WEB_ALIASES.get(sub.name.lower())
        if emotion is None:
            if files:
                skipped[f"unknown class: {sub.name}"] += len(files)
            continue
        items.extend((f, EMOTIONS.index(emotion)) for f in files)
    if not items:
        raise EmoliveError(f"no labelled images in {root} (expected <class>/<image> with classes "
                           f"{sorted(k for k, v in WEB_ALIASES.items() if v)})")
    return items, skipped


def identity_split(names: Sequence[str], val_share: float, seed: int = 0,
                   labels: Sequence[int] | None = None) -> np.ndarray:
    """Boolean mask of the validation photos: whole identities, so every photo of a person lands on one side.

    People are visited in a seeded random order. Without ``labels`` each is taken until ``val_share`` of the
    photos are in (a person who would overshoot it by more than 5% is passed over). With ``labels`` the split is
    stratified: a person is taken when that brings the validation counts closer to ``val_share`` x each class's
    count (distance: the sum over classes of |count - target| / target), so a rare class that only a few people
    show (disgust, fear) still gets validation photos.
    """
    if not 0.0 < val_share < 1.0:
        raise EmoliveError(f"the validation share must lie between 0 and 1 (got {val_share})")
    who = [identity_of(n) for n in names]
    people = sorted(set(who))
    order = np.random.default_rng(seed).permutation(len(people))
    chosen: set[str] = set()
    if labels is None:
        want = val_share * len(names)
        sizes = Counter(who)
        taken = 0
        for i in order:
            if taken >= want:
                break
            person = people[i]
            if taken + sizes[person] > want * 1.05 and sizes[person] > 1:
                continue  # too big for the remaining room: stays in train (keeps the share near its value)
            chosen.add(person)
            taken += sizes[person]
    else:
        y = np.asarray(labels, dtype=int)
        n_classes = int(y.max()) + 1 if y.size else 0
        index = {p: k for k, p in enumerate(people)}
        per_person = np.zeros((len(people), n_classes))
        np.add.at(per_person, ([index[w] for w in who], y), 1.0)
        target = val_share * per_person.sum(0)
        scale = np.maximum(target, 1.0)  # relative distance: a rare class counts as much as a common one
        val = np.zeros(n_classes)
        for i in order:
            after = val + per_person[i]
            if (np.abs(after - target) / scale).sum() < (np.abs(val - target) / scale).sum():
                chosen.add(people[i])
                val = after
    return np.array([w in chosen for w in who], dtype=bool)


def load_colour(items: Sequence[tuple[Path, int]], size: int, cache_dir: Path | None,
                tag: str) -> np.ndarray:
    """The images as uint8 (N, size, size, 3) BGR (area-resized), cached as .npz under ``cache_dir``."""
    import cv2

    key = hashlib.sha1("|".join(f"{p}:{y}" for p, y in items).encode() + f"|{size}".encode()).hexdigest()[:16]
    cache = cache_dir / f"{tag}-{key}.npz" if cache_dir else None
    if cache is not None and cache.is_file():
        try:
            with np.load(cache) as data:
                return data["x"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            log.warning("cache %s is unreadable (%s): decoding the images again", cache, exc)
    out = np.empty((len(items), size, size, 3), dtype=np.uint8)
    for i, (path, _) in enumerate(items):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise EmoliveError(f"unreadable image: {path}")
        if image.shape[:2] != (size, size):
            interp = cv2.INTER_AREA if max(image.shape[:2]) > size else cv2.INTER_LINEAR
            image = cv2.resize(image, (size, size), interpolation=interp)
        out[i] = image
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as handle:
            np.savez(handle, x=out)
        os.replace(tmp, cache)
    return out


def balanced_weights(labels: np.ndarray, sources: np.ndarray, source_shares: dict[int, float],
                     power: float = 0.5, n_classes: int = len(EMOTIONS)) -> np.ndarray:
    """Per-image sampling weights (summing to 1): source ``s`` gets ``source_shares[s]`` of the draws (shares
    renormalised over the sources present) and, inside it, class ``c`` gets a share proportional to
    ``count(s, c) ** power``; images of one (source, class) cell are drawn equally often."""
    labels = np.asarray(labels, dtype=int)
    sources = np.asarray(sources, dtype=int)
    present = sorted(set(sources.tolist()))
    missing = [s for s in present if s not in source_shares]
    if missing:
        raise EmoliveError(f"no share given for sources {missing}")
    total_share = sum(source_shares[s] for s in present)
    if total_share <= 0:
        raise EmoliveError("the source shares must add up to more than 0")
    weights = np.zeros(len(labels), dtype=np.float64)
    for s in present:
        in_source = sources == s
        counts = np.bincount(labels[in_source], minlength=n_classes).astype(np.float64)
        mass = np.where(counts > 0, counts ** power, 0.0)
        class_share = mass / mass.sum()
        for c in np.flatnonzero(counts):
            cell = in_source & (labels == c)
            weights[cell] = source_shares[s] / total_share * class_share[c] / counts[c]
    return weights / weights.sum()


def expected_shares(weights: np.ndarray, labels: np.ndarray, sources: np.ndarray,
                    n_classes: int = len(EMOTIONS)) -> dict[int, np.ndarray]:
    """The share of the draws each (source, class) cell gets under ``weights``: {source: (n_classes,) array}."""
    labels = np.asarray(labels, dtype=int)
    sources = np.asarray(sources, dtype=int)
    return {int(s): np.bincount(labels[sources == s], weights=weights[sources == s], minlength=n_classes)
            for s in sorted(set(sources.tolist()))}


def write_split_folder(items: Sequence[tuple[Path, int]], out: Path) -> int:
    """A class-folder view of ``items`` (symbolic links, ``out/<emotion>/<file>``) for `emolive eval face`;
    returns the number of links. An existing link of the same name is replaced."""
    out = Path(out)
    for path, label in items:
        target = out / EMOTIONS[label] / Path(path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        target.symlink_to(Path(path).resolve())
    return len(items)
