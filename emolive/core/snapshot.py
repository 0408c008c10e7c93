"""Analysis snapshots on disk: a nested state of dicts, lists, scalars and numpy arrays in one safetensors file.

Arrays go into the safetensors tensors (named by their path in the state); everything else is JSON in the file's
metadata, where each array is replaced by ``{"__array__": NAME}``. No pickle: a snapshot holds only numbers,
strings and arrays. Files are written atomically (a temporary file, then ``os.replace``), so a process killed
while writing leaves the previous snapshot intact.

The helpers for the contract types (``ModalityOutput``, ``TranscriptSegment``, ``FaceBox``) live here too, so
every component's ``state()`` speaks the same plain vocabulary.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from emolive.core.abilities import Snapshotable, is_stateless
from emolive.core.contracts import FaceBox, ModalityOutput, PersonEstimate, TranscriptSegment, Word, frozen_array
from emolive.core.errors import EmoliveError

log = logging.getLogger(__name__)

FORMAT = "emolive-snapshot"
FORMAT_VERSION = 1
META_KEY = "emolive_snapshot"
_ARRAY = "__array__"


class SnapshotError(EmoliveError):
    """A snapshot file that cannot be used (missing, corrupt, another format)."""


# ---------------------------------------------------------------------------------------------- flatten
def flatten(state: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """(JSON-able tree, arrays by name): every numpy array in ``state`` replaced by a reference to its name."""
    arrays: dict[str, np.ndarray] = {}

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                raise TypeError(f"{path}: object arrays cannot go into a snapshot")
            name = path or "root"
            arrays[name] = np.ascontiguousarray(value)
            return {_ARRAY: name}
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise TypeError(f"{path}: snapshot keys must be strings, not {type(key).__name__}")
                if key == _ARRAY:
                    raise TypeError(f"{path}: {_ARRAY} is a reserved key")
                out[key] = walk(item, f"{path}/{key}" if path else key)
            return out
        if isinstance(value, (list, tuple)):
            return [walk(item, f"{path}/{i}") for i, item in enumerate(value)]
        if isinstance(value, np.generic):
            return value.item()
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise TypeError(f"{path}: {type(value).__name__} cannot go into a snapshot")

    return walk(state, ""), arrays


def unflatten(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The inverse of ``flatten`` (tuples come back as lists)."""
    if isinstance(tree, dict):
        if set(tree) == {_ARRAY}:
            try:
                return arrays[tree[_ARRAY]]
            except KeyError:
                raise SnapshotError(f"the snapshot lacks its array {tree[_ARRAY]!r}") from None
        return {key: unflatten(value, arrays) for key, value in tree.items()}
    if isinstance(tree, list):
        return [unflatten(item, arrays) for item in tree]
    return tree


# ---------------------------------------------------------------------------------------------- files
def write_snapshot(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` (safetensors arrays + JSON metadata), atomically."""
    from safetensors.numpy import save

    tree, arrays = flatten(state)
    meta = json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, "state": tree}, allow_nan=True)
    data = save(arrays, metadata={META_KEY: meta})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_snapshot(path: Path) -> dict[str, Any]:
    """The state written by ``write_snapshot``; SnapshotError when the file is missing, corrupt or foreign."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as handle:
            text = (handle.metadata() or {}).get(META_KEY)
            if text is None:
                raise ValueError("no emolive metadata")
            meta = json.loads(text)
            arrays = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118 - not a dict
    except (OSError, SafetensorError, ValueError, json.JSONDecodeError) as exc:
        raise SnapshotError(f"cannot read the snapshot {path}: {exc}") from exc
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION or "state" not in meta:
        raise SnapshotError(f"{path} is not an emolive snapshot of format version {FORMAT_VERSION}")
    state = unflatten(meta["state"], arrays)
    if not isinstance(state, dict):
        raise SnapshotError(f"{path}: the snapshot's state is not a mapping")
    return state


# ---------------------------------------------------------------------------------------------- contract types
def _opt_float(value: float | None) -> float | None:
    return None if value is None else float(value)


_ARRAY_FIELDS = ("embedding", "head_input")  # ModalityOutput's array fields (read-only once restored)


def modality_state(output: ModalityOutput | None) -> dict[str, Any] | None:
    if output is None:
        return None
    state: dict[str, Any] = {f.name: getattr(output, f.name) for f in fields(output) if f.name not in _ARRAY_FIELDS}
    for key in ("emotion", "sentiment"):
        if state[key] is not None:
            state[key] = [float(v) for v in state[key]]
    for key in _ARRAY_FIELDS:
        if getattr(output, key) is not None:
            state[key] = np.array(getattr(output, key))
    return state


def restore_modality(state: dict[str, Any] | None) -> ModalityOutput | None:
    if state is None:
        return None
    data = dict(state)
    for key in ("emotion", "sentiment"):
        if data.get(key) is not None:
            data[key] = tuple(float(v) for v in data[key])
    for key in ("valence", "arousal"):
        data[key] = _opt_float(data.get(key))
    for key in _ARRAY_FIELDS:
        if data.get(key) is not None:
            data[key] = frozen_array(np.array(data[key]))
    return ModalityOutput(**data)


def segment_state(segment: TranscriptSegment) -> dict[str, Any]:
    return {"text": segment.text, "start": segment.start, "end": segment.end, "committed": segment.committed,
            "confidence": segment.confidence, "t_emitted": segment.t_emitted,
            "words": [word_state(w) for w in segment.words], "language": segment.language}


def restore_segment(state: dict[str, Any]) -> TranscriptSegment:
    return TranscriptSegment(state["text"], float(state["start"]), float(state["end"]), bool(state["committed"]),
                             float(state["confidence"]), tuple(restore_word(w) for w in state["words"]),
                             float(state["t_emitted"]), str(state.get("language", "")))


def word_state(word: Word) -> list[Any]:
    return [word.text, word.start, word.end, word.probability]


def restore_word(state: list[Any]) -> Word:
    return Word(str(state[0]), float(state[1]), float(state[2]), float(state[3]))


def box_state(box: FaceBox) -> list[Any]:
    return [box.x, box.y, box.w, box.h, box.track_id, box.score, box.person_id, box.person]


def restore_box(state: list[Any]) -> FaceBox:
    person_id = state[6] if len(state) > 6 else None  # snapshots before persons hold six fields
    return FaceBox(int(state[0]), int(state[1]), int(state[2]), int(state[3]), int(state[4]), float(state[5]),
                   None if person_id is None else int(person_id), str(state[7]) if len(state) > 7 else "")


def person_state(person: PersonEstimate) -> dict[str, Any]:
    return {"person_id": person.person_id, "name": person.name, "box": box_state(person.box),
            "face": modality_state(person.face), "primary": person.primary}


def restore_person(state: dict[str, Any]) -> PersonEstimate:
    face = restore_modality(state["face"])
    if face is None:
        raise SnapshotError("a person in the snapshot has no face output")
    return PersonEstimate(int(state["person_id"]), str(state["name"]), restore_box(state["box"]), face,
                          bool(state["primary"]))


def component_state(component: Any) -> dict[str, Any] | None:
    """``component.state()``, ``{}`` for a component marked ``stateless``, None when it cannot be snapshot."""
    if component is None or is_stateless(component):
        return {}
    if not isinstance(component, Snapshotable):
        return None
    return component.state()


def restore_component(component: Any, state: dict[str, Any]) -> None:
    if component is None or is_stateless(component):
        return
    component.restore(state)
