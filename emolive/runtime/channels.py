"""Build the face, voice and text channels and the fuser from the configuration (models warmed up)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emolive.config import InferenceConfig, PeopleConfig
from emolive.core.abilities import Movable, Resettable, SeesPeople
from emolive.core.contracts import FaceLike, TextLike, VideoFrame, VoiceLike
from emolive.core.errors import EmoliveError, ModelError
from emolive.models.device import limit_torch_threads, resolve_device
from emolive.runtime.parallel import FACE_IMPORTS, HEAVY_IMPORTS, import_ahead, in_parallel
from emolive.runtime.selfcheck import check_channel

log = logging.getLogger(__name__)


@dataclass
class Channels:
    """The loaded channels (None: left out, see ``problems``) and where they run."""

    face: FaceLike | None = None
    voice: VoiceLike | None = None
    text: TextLike | None = None
    problems: tuple[str, ...] = ()
    load_s: float = 0.0
    device: str = "cpu"


def _path(value: str) -> Path | None:
    return Path(value).expanduser() if value else None


MODEL_FIELDS: dict[str, str] = {"face": "face_model", "voice": "voice_model", "text": "text_model",
                                "fusion": "fusion_model"}


def validate_models(config: InferenceConfig, kinds: tuple[str, ...] = tuple(MODEL_FIELDS)) -> None:
    """ModelError (one sentence naming the folder) for the first configured model folder that cannot be used."""
    from emolive.models.io import validate_model_folder

    for kind in kinds:
        folder = getattr(config, MODEL_FIELDS[kind])
        if folder:
            validate_model_folder(kind, Path(folder).expanduser())


def load_channels(config: InferenceConfig, face: bool = True, voice: bool = True, text: bool = True,
                  warm_up: bool = True, strict: bool = True, people: PeopleConfig | None = None,
                  import_solver: bool = True) -> Channels:
    """Load the requested channels.

    ``people`` (the ``[people]`` settings) gives the face channel persons: identities (or tracks only) and up to
    ``max_faces`` faces scored a step; None leaves it as without them (the subject only, no person ids).
    ``import_solver`` False leaves the persons' assignment solver for two faces or more (scipy.optimize, 0.3-1 s
    of imports) to the caller (the app's preload imports it once the voice and text channels are loaded).

    A model folder set in ``config`` that cannot be used (missing, corrupt, another kind, weights that do not
    fit) is a ModelError naming the folder when ``strict``; otherwise, and for a bundled model that cannot
    load (e.g. a missing optional package), the channel is left out and its problem reported.
    """

    if config.runtime == "torch":
        limit_torch_threads(config.threads)
    device = resolve_device(config.device, config.runtime)
    started = time.perf_counter()
    out = Channels()
    problems_of: dict[str, list[str]] = {"face": [], "voice": [], "text": []}  # in this order, whatever the threads
    wanted = {"face": face, "voice": voice, "text": text}

    def build(kind: str, make: Any) -> Any:
        folder = getattr(config, MODEL_FIELDS[kind])
        try:
            if folder:
                validate_models(config, (kind,))
            channel = make(_path(folder))
            check_channel(kind, channel)  # finite outputs on a fixed input, equal to its reference.json if any
            return channel
        except (EmoliveError, ImportError, OSError, KeyError, TypeError, ValueError) as exc:
            if folder and not isinstance(exc, ImportError):
                message = str(exc)
                if not isinstance(exc, EmoliveError) or str(Path(folder).expanduser()) not in message:
                    message = f"the {kind} model folder {folder} cannot be used: {exc}"
                if strict:
                    raise ModelError(message) from exc
                problems_of[kind].append(message)
            else:
                problems_of[kind].append(f"{kind} channel unavailable: {exc}")
            return None

    if strict:  # fail before loading anything when a configured folder is plainly unusable
        validate_models(config, tuple(k for k in MODEL_FIELDS if wanted.get(k, True)))
    def make_face(folder: Path | None) -> Any:
        from emolive.face.channel import FaceChannel

        return FaceChannel(folder, detect_every=config.face_detect_every, threads=config.threads,
                           runtime=config.runtime, device=device, detector=config.face_detector,
                           int8=config.face_int8)

    def make_voice(folder: Path | None) -> Any:
        from emolive.voice.channel import VoiceChannel

        return VoiceChannel(folder, threads=config.threads)

    def make_text(folder: Path | None) -> Any:
        from emolive.text.channel import TextChannel

        return TextChannel(folder, threads=config.threads, runtime=config.runtime, device=device)

    makers = {"face": make_face, "voice": make_voice, "text": make_text}
    # The voice and text loads each hold a transient copy of their weights (Whisper: ~190 MB at its peak, the text
    # encoder ~260 MB): side by side they raised the peak RSS by 65-90 MB, so they stay one after the other, beside
    # the face channel's load.
    later = [kind for kind in ("voice", "text") if wanted[kind]]

    tasks: dict[str, Any] = {"face": lambda: build("face", make_face)} if face else {}
    if face and people is not None:  # the identity matcher's imports (scipy), beside the face model's loading
        tasks["people"] = lambda: person_parts(people, import_solver)
    if later:
        tasks["voice+text"] = lambda: {kind: build(kind, makers[kind]) for kind in later}
    parallel = config.runtime != "torch"  # torch's own thread pools and lazy init are left one at a time
    if parallel and len(tasks) > 1:
        import_ahead(heavy_imports(face, bool(later), people is not None))
    built = in_parallel(tasks, parallel=parallel)
    parts = built.pop("people", None)
    built.update(built.pop("voice+text", {}))
    out.face, out.voice, out.text = built.get("face"), built.get("voice"), built.get("text")
    problems = [problem for kind in problems_of for problem in problems_of[kind]]
    out.device = device
    if people is not None:
        add_people(out, people, parts)
    if out.device != "cpu":
        for channel in (out.face, out.voice, out.text):
            if isinstance(channel, Movable):
                channel.to(out.device)
    for problem in problems:
        log.warning(problem)
    if warm_up:
        _warm_up(out, parallel=parallel)
    out.problems = tuple(problems)
    out.load_s = time.perf_counter() - started
    return out


def heavy_imports(face: bool, voice_or_text: bool, people: bool) -> tuple[str, ...]:
    """The packages to import before loading these channels side by side (``parallel.import_ahead``): only those
    they use, so a face loaded first does not wait for the voice's and the words' packages."""
    names = [*FACE_IMPORTS] if face else ["numpy", "onnxruntime"]
    if voice_or_text:
        names += [name for name in HEAVY_IMPORTS if name not in names]
    if people:
        names.append("emolive.face.people")
    return tuple(names)


def person_parts(people: PeopleConfig, import_solver: bool = True) -> tuple[Any, Any]:
    """The face channel's person registry and (lazy) identity embedder by the ``[people]`` settings."""
    from emolive.face.people import people_parts

    return people_parts(people.identities, import_solver=import_solver)


def add_people(channels: Channels, people: PeopleConfig, parts: tuple[Any, Any] | None = None) -> None:
    """Give the face channel persons by the ``[people]`` settings, unless it has them already (a preloaded
    channel gets them here): identities (tracks only when off, or when dlib is not installed: one log line) and
    up to ``max_faces`` faces scored a step. ``parts``: ``person_parts(people)`` if made already."""
    face = channels.face
    if not isinstance(face, SeesPeople) or getattr(face, "identities", None) is not None:
        return
    registry, embedder = parts if parts is not None else person_parts(people)
    face.use_people(registry, embedder, people.max_faces)


def _warm_up(channels: Channels, parallel: bool = True) -> None:
    """One throw-away call per channel so the first real step is not slow (lazy init, allocator); the channels
    warm up side by side unless ``parallel`` is False."""
    face, voice, text = channels.face, channels.voice, channels.text

    def warm_face() -> None:
        face.process(VideoFrame(t=0.0, index=-1, image=np.zeros((480, 640, 3), np.uint8)))
        if isinstance(face, Resettable):
            face.reset()

    def warm_voice() -> None:
        rng = np.random.default_rng(0)
        voice.process((0.01 * rng.standard_normal(32000)).astype(np.float32), 0.0)
        if isinstance(voice, Resettable):
            voice.reset()  # the warm-up window must not count as the session's speech

    def warm_text() -> None:
        text.process("warm up", 0.0)

    tasks = {"face": warm_face, "voice": warm_voice, "text": warm_text}
    in_parallel({kind: task for kind, task in tasks.items() if getattr(channels, kind) is not None}, parallel)
