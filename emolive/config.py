"""Application settings as frozen dataclasses, read from TOML in the user's config directory.

Command-line overrides use ``section.key=value`` (value parsed as TOML, bare words taken as text).
"""

from __future__ import annotations

import dataclasses
import logging
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from emolive.asr.decoder import MIN_PASS_S
from emolive.core.errors import ConfigError, plain_reason
from emolive.fusion.smoothing import DEFAULT_SMOOTHING_S

log = logging.getLogger(__name__)


def _num(default: float, low: float, high: float, *, low_open: bool = False) -> Any:
    """A numeric setting with its allowed range ``[low, high]`` (``(low, high]`` when ``low_open``)."""
    return field(default=default, metadata={"range": (low, high, low_open)})


def _choice(default: str, *choices: str) -> Any:
    """A text setting that must be one of ``choices``."""
    return field(default=default, metadata={"choices": choices})


@dataclass(frozen=True)
class CaptureConfig:
    camera: str = field(default="0", metadata={"index_ok": True})  # index or device path/name; "" for none
    microphone: str = field(default="", metadata={"index_ok": True})  # index or part of the name; "" default
    width: int = _num(640, 16, 7680)
    height: int = _num(480, 16, 4320)
    fps: float = _num(30.0, 1.0, 240.0)
    audio_seconds: float = _num(30.0, 5.0, 600.0)  # length of the audio ring
    # frames kept live: the worker reads the newest, the raw video recorder polls every 0.1 s (1 s at 30 fps,
    # 28 MB at 640x480; offline analysis keeps at least engine.OFFLINE_FRAME_RING)
    frame_ring: int = _num(30, 2, 10000)


@dataclass(frozen=True)
class InferenceConfig:
    device: str = _choice("auto", "auto", "cpu", "cuda")
    runtime: str = _choice("onnx", "onnx", "torch")  # onnx: exported models in ONNX Runtime (no torch)
    hop_s: float = _num(0.1, 0.02, 5.0)  # one estimate every hop
    budget_ms: float = _num(90.0, 1.0, 10000.0)
    threads: int = _num(1, 1, 256)  # torch threads of the inference worker
    fusion: str = _choice("late", "late", "crossmodal")
    smoothing_s: float = _num(DEFAULT_SMOOTHING_S, 0.0, 60.0)  # exponential smoothing time constant (0: none)
    # late fusion: cut the weight of a channel that sounds unlike its training data or disagrees with the fused
    # estimate for seconds (emolive.fusion.reliability); the reason shows in the chips and the CSV
    fusion_reliability: bool = False
    face_detector: str = _choice("mtcnn", "mtcnn", "haar")  # MTCNN (ONNX) or OpenCV's Haar cascade
    # the face CNN's int8 graph on the CPU when the model folder has one made from its weights (0.5-0.6x the cost per
    # face; FER2013 val 0.7008 -> 0.7002, docs/experiments/2026-12-08-face-int8.md); false: float32
    face_int8: bool = True
    face_detect_every: int = _num(2, 1, 100)  # full/near face detection every N hops; tracks coast in between
    # voice channel every N hops (a 2 s window every 0.4 s), on the hops without face detection; every 2 hops scored
    # the rendered clips no better for twice the voice encoder's CPU (docs/experiments/2026-12-07-voice-cadence.md)
    voice_every: int = _num(4, 1, 100)
    voice_window_s: float = _num(2.0, 0.25, 30.0)
    # live: the voice windows are scored on a thread of their own, so a hop never waits for the Whisper encoder
    voice_thread: bool = True
    # live: face detection rounds on a thread of their own (the tracks coast until a round's faces are found)
    detect_thread: bool = True
    text_max_age_s: float = _num(20.0, 0.0, 3600.0, low_open=True)  # older transcript no longer counts
    face_model: str = ""  # "" -> bundled assets/face
    voice_model: str = ""
    text_model: str = ""
    fusion_model: str = ""


@dataclass(frozen=True)
class AsrConfig:
    enabled: bool = True
    model: str = "tiny.en"  # tiny.en (bundled), base (extra whisper-base), a CTranslate2 folder, or a hub name
    language: str = ""  # "" -> English for .en models, detected otherwise
    threads: int = _num(1, 1, 256)
    interval_s: float = _num(1.0, 0.1, 30.0)
    allow_download: bool = False
    offline_partials: bool = False  # analyze: decode each utterance once at its end (True: the live cadence)
    # analyze: ended utterances are decoded together, up to this many seconds of their audio in one Whisper pass;
    # 0 (default): each utterance alone, which lost fewer words and, with min_pass_s, cost no more
    offline_pack_s: float = _num(0.0, 0.0, 30.0)
    # live: decode unfinished utterances every interval_s so words show while someone speaks; false: once per
    # utterance at its end, as analyze does (the text channel then gets the words at the utterance's end)
    live_partials: bool = True
    # English-only models: each Whisper encoder pass covers the audio + 1 s, at least this many seconds, instead of
    # Whisper's 30 s window (a third of the CPU per short decode; shorter than ~10 s tiny.en loops; 30: always full)
    min_pass_s: float = _num(MIN_PASS_S, 1.0, 30.0)


@dataclass(frozen=True)
class RecordingConfig:
    directory: str = ""  # "" -> the user's data directory
    raw_audio: bool = True
    raw_video: bool = False


@dataclass(frozen=True)
class OutputsConfig:
    """Live outputs for other tools (emolive.outputs): all off by default."""

    lsl: bool = False  # publish the estimates (and markers) to the Lab Streaming Layer
    lsl_markers: str = ""  # name or type of an LSL marker stream written into the recording; "" for none
    overlay: bool = False  # serve the WebSocket stream and the OBS overlay page
    host: str = "127.0.0.1"  # another interface only on request, and then with a token
    port: int = _num(8765, 0, 65535)  # 0: any free port
    token: str = ""  # clients add ?token=...; required when host is not this machine


@dataclass(frozen=True)
class PeopleConfig:
    """Several people in view (emolive.face.identity): who is who, kept on this machine only."""

    # persons that outlive a track (face-identity embeddings, never written to CSVs); false: tracks only
    identities: bool = True
    max_faces: int = _num(4, 1, 16)  # faces scored every step, largest first; the others are boxed only
    # keep names and reference embeddings for the next session (opt-in; stored in the user's data directory)
    remember: bool = False


@dataclass(frozen=True)
class AppConfig:
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    asr: AsrConfig = field(default_factory=AsrConfig)
    recording: RecordingConfig = field(default_factory=RecordingConfig)
    outputs: OutputsConfig = field(default_factory=OutputsConfig)
    people: PeopleConfig = field(default_factory=PeopleConfig)


def default_config_path() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("emolive")) / "config.toml"


def _section(cls: type, values: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"{where}: unknown setting {key!r} (known: {', '.join(known)})")
        default = getattr(cls(), key)
        if known[key].metadata.get("index_ok") and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # `camera = 0`: the index written as a number
        if isinstance(default, bool) != isinstance(value, bool) or (
            isinstance(default, int | float) and not isinstance(value, int | float)
        ) or (isinstance(default, str) and not isinstance(value, str)):
            raise ConfigError(f"{where}: {key} must be {type(default).__name__}, got {value!r}")
        if isinstance(default, int) and not isinstance(default, bool | float) and isinstance(value, float):
            if not value.is_integer():
                raise ConfigError(f"{where}: {key} must be a whole number, got {value!r}")
            value = int(value)
        kwargs[key] = float(value) if isinstance(default, float) else value
        _check_value(known[key], kwargs[key], where)
    return cls(**kwargs)


def _check_value(spec: dataclasses.Field, value: Any, where: str) -> None:
    """Raise ConfigError naming the key when ``value`` is outside the setting's range or choices."""
    if "range" in spec.metadata:
        low, high, low_open = spec.metadata["range"]
        below = value <= low if low_open else value < low
        if below or value > high or value != value:
            bracket = "(" if low_open else "["
            raise ConfigError(f"{where}: {spec.name} = {value!r} is out of range {bracket}{low:g}, {high:g}]")
    if "choices" in spec.metadata and value not in spec.metadata["choices"]:
        raise ConfigError(f"{where}: {spec.name} = {value!r} must be one of {', '.join(spec.metadata['choices'])}")


def check_ranges(config: AppConfig, where: str = "config") -> AppConfig:
    """Check every setting of ``config`` against its range (for configs built in code, e.g. by the GUI)."""
    for section in fields(AppConfig):
        part = getattr(config, section.name)
        for spec in fields(part):
            _check_value(spec, getattr(part, spec.name), f"{where} [{section.name}]")
    if config.inference.voice_window_s > config.capture.audio_seconds:
        raise ConfigError(f"{where}: inference.voice_window_s ({config.inference.voice_window_s:g}) must not exceed "
                          f"capture.audio_seconds ({config.capture.audio_seconds:g})")
    return config


def from_dict(data: dict[str, Any], where: str = "config") -> AppConfig:
    sections = {f.name: f.type for f in fields(AppConfig)}
    kwargs = {}
    for name, values in data.items():
        if name not in sections:
            raise ConfigError(f"{where}: unknown section [{name}] (known: {', '.join(sections)})")
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: [{name}] must be a table")
        cls = type(getattr(AppConfig(), name))
        kwargs[name] = _section(cls, values, f"{where} [{name}]")
    return check_ranges(AppConfig(**kwargs), where)


def to_dict(config: AppConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)


def apply_overrides(config: AppConfig, overrides: list[str] | tuple[str, ...]) -> AppConfig:
    """Apply ``section.key=value`` overrides on top of ``config``."""
    data = to_dict(config)
    for item in overrides:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        dotted, raw = item.split("=", 1)
        section, key = dotted.strip().split(".", 1)
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        data.setdefault(section, {})[key] = value
    return from_dict(data, "override")


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> AppConfig:
    """Read the TOML file (default location if None; defaults if it does not exist there) plus overrides."""
    explicit = path is not None
    path = Path(path) if explicit else default_config_path()
    config = AppConfig()
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is malformed: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {plain_reason(exc)}") from exc
        config = from_dict(data, str(path))
    elif explicit:
        raise ConfigError(f"config file {path} is a folder, not a file" if path.is_dir()
                          else f"config file not found: {path}")
    return apply_overrides(config, overrides) if overrides else config


def _toml_value(value: Any) -> str:
    # The settings are flat scalars, so a few lines replace a TOML-writer dependency.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def save_config(config: AppConfig, path: str | Path | None = None) -> Path:
    """Write ``config`` as TOML (atomically) and return the path."""
    path = Path(path) if path is not None else default_config_path()
    lines = []
    for section, values in to_dict(config).items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    tmp.replace(path)
    return path


def with_changes(config: AppConfig, section: str, **changes: Any) -> AppConfig:
    """A copy of ``config`` with some settings of one section changed."""
    return replace(config, **{section: replace(getattr(config, section), **changes)})
