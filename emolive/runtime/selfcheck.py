"""A loaded channel's self-check: a forward pass on a fixed input must give finite outputs, equal (within the
tolerance stored with them) to the model folder's ``reference.json`` when it has one.

Well-formed weights can still be damaged (NaN or huge values in the floats): the folder then loads, and without
this check its outputs would poison the fusion. The reference is written by the training and export code
(``write_reference``) from the same fixed inputs, so a folder whose weights changed afterwards is caught too.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from emolive.core.errors import ModelError
from emolive.models.io import REFERENCE_NAME

log = logging.getLogger(__name__)

VERSION = 1
PROBE_SENTENCE = "I can't believe we finally made it, this is wonderful!"
SAMPLE_RATE = 16_000
# largest absolute difference allowed per output: the voice encoder runs int8 (results vary a little by CPU)
TOLERANCE = {"face": 0.01, "voice": 0.05, "text": 0.01}
UNCOMPARED = ("embedding",)  # checked for finiteness only: its scale (and a GPU's rounding) varies by model


def probe_crop(size: int) -> np.ndarray:
    """A fixed, smooth uint8 grey ``size`` x ``size`` pattern (closed form: the same on every machine)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    image = 128 + 60 * np.sin(x / 4.0) * np.cos(y / 6.0) + 40 * np.cos((x + y) / 9.0)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def probe_audio(samples: int) -> np.ndarray:
    """A fixed voiced-sounding float32 signal (harmonics of a gliding pitch, amplitude-modulated)."""
    t = np.arange(samples, dtype=np.float64) / SAMPLE_RATE
    pitch = 140.0 + 30.0 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    signal = sum(0.2 / k * np.sin(k * phase) for k in range(1, 7))
    return (signal * (0.6 + 0.4 * np.sin(2 * np.pi * 3.0 * t))).astype(np.float32)


def model_dir_of(kind: str, channel: Any) -> Path | None:
    """The folder the channel's model came from (None for a stand-in without one)."""
    owner = getattr(channel, "predictor", channel) if kind == "face" else channel
    folder = getattr(owner, "model_dir", None)
    return Path(folder) if folder is not None else None


def probe(kind: str, channel: Any) -> dict[str, np.ndarray] | None:
    """The channel's outputs on the fixed input of its kind; None when ``channel`` cannot be probed (a stand-in)."""
    if kind == "face" and hasattr(channel, "predictor"):
        predictor = channel.predictor
        probs, embedding = predictor.predict(probe_crop(int(predictor.size)))
        return {"emotion": probs[0], "embedding": embedding[0]}
    if kind == "voice" and hasattr(channel, "score_window"):
        probs, arousal = channel.score_window(probe_audio(int(channel.window_samples)))
        return {"emotion": np.asarray(probs), "arousal": np.array([arousal])}
    if kind == "text" and hasattr(channel, "predict_batch"):
        emotion, sentiment = channel.predict_batch([PROBE_SENTENCE])
        out = {"emotion": emotion[0], "sentiment": sentiment[0]}
        if getattr(channel, "has_va", False):
            out["valence_arousal"] = np.asarray(channel.predict_va([PROBE_SENTENCE]))[0]
        return out
    return None


def check_channel(kind: str, channel: Any) -> None:
    """ModelError when the channel's outputs on the fixed input are not finite or differ from its reference."""
    outputs = probe(kind, channel)
    if outputs is None:
        return
    folder = model_dir_of(kind, channel)
    where = f"the {kind} model folder {folder}" if folder is not None else f"the {kind} model"
    bad = [name for name, value in outputs.items() if not np.all(np.isfinite(np.asarray(value, np.float64)))]
    if bad:
        what = " and ".join(bad) + (" outputs" if len(bad) > 1 else " output")
        verb = "are" if len(bad) > 1 else "is"
        raise ModelError(f"{where} cannot be used: its {what} on a fixed test input {verb} not finite (NaN or "
                         "infinity), so its weights are damaged")
    reference = read_reference(folder) if folder is not None else None
    if reference is None:
        return
    tolerance = float(reference.get("atol", TOLERANCE.get(kind, 0.01)))
    for name, expected in (reference.get("outputs") or {}).items():
        if name not in outputs:
            continue
        want = np.asarray(expected, dtype=np.float64)
        got = np.asarray(outputs[name], dtype=np.float64).reshape(-1)
        if want.shape != got.shape:
            raise ModelError(f"{where} cannot be used: its {name} output has {got.size} values, its {REFERENCE_NAME} "
                             f"{want.size}")
        worst = float(np.max(np.abs(want - got))) if want.size else 0.0
        if worst > tolerance:
            raise ModelError(f"{where} cannot be used: its {name} output on a fixed test input differs from the "
                             f"reference stored with it ({REFERENCE_NAME}) by {worst:.3g} (tolerance "
                             f"{tolerance:g}), so its weights are damaged or not the ones the reference was made with")
    log.debug("%s matches its reference", where)


def read_reference(folder: Path) -> dict[str, Any] | None:
    """The folder's ``reference.json`` (None when it has none; an unreadable one is a ModelError)."""
    path = Path(folder) / REFERENCE_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"the model folder {folder} cannot be used: {REFERENCE_NAME} is unreadable ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("outputs"), dict):
        raise ModelError(f"the model folder {folder} cannot be used: {REFERENCE_NAME} holds no outputs")
    return data if int(data.get("version", VERSION)) == VERSION else None


def write_reference(kind: str, channel: Any) -> Path:
    """Probe ``channel`` and write its outputs as the ``reference.json`` of its model folder."""
    outputs = probe(kind, channel)
    folder = model_dir_of(kind, channel)
    if outputs is None or folder is None:
        raise ModelError(f"the {kind} channel cannot be probed")
    if not all(np.all(np.isfinite(v)) for v in outputs.values()):
        raise ModelError(f"{folder}: the outputs on the fixed test input are not finite; no reference written")
    data = {"version": VERSION, "kind": kind, "atol": TOLERANCE[kind],
            "runtime": getattr(channel, "runtime", getattr(getattr(channel, "predictor", None), "runtime", "")),
            "outputs": {k: [round(float(x), 7) for x in np.asarray(v).reshape(-1)] for k, v in outputs.items()
                        if k not in UNCOMPARED}}
    path = folder / REFERENCE_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)
    return path


def write_folder_reference(kind: str, folder: Path) -> Path:
    """Load the ``kind`` model in ``folder`` (its default runtime) and write its ``reference.json``."""
    folder = Path(folder)
    (folder / REFERENCE_NAME).unlink(missing_ok=True)  # the old one must not judge the model it describes
    if kind == "face":
        from emolive.face.channel import FaceChannel

        channel: Any = FaceChannel(folder, detector="haar", int8=False)  # the float model; int8 is checked against it
    elif kind == "voice":
        from emolive.voice.channel import VoiceChannel

        channel = VoiceChannel(folder)
    elif kind == "text":
        from emolive.text.channel import TextChannel

        channel = TextChannel(folder)
    else:
        raise ModelError(f"no reference for {kind} models")
    return write_reference(kind, channel)
