"""Build the face, voice and text channels and the fuser from the configuration (models warmed up)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emolive.config import InferenceConfig
from emolive.contracts import VideoFrame
from emolive.errors import EmoliveError

log = logging.getLogger(__name__)


@dataclass
class Channels:
    face: Any = None
    voice: Any = None
    text: Any = None
    problems: tuple[str, ...] = ()
    load_s: float = 0.0
    device: str = "cpu"


def _path(value: str) -> Path | None:
    return Path(value).expanduser() if value else None


def load_channels(config: InferenceConfig, face: bool = True, voice: bool = True, text: bool = True,
                  warm_up: bool = True) -> Channels:
    """Load the requested channels; a channel that cannot load is left out and its problem reported."""
    import torch

    torch.set_num_threads(max(1, config.threads))
    started = time.perf_counter()
    out = Channels()
    problems: list[str] = []
    if face:
        try:
            from emolive.face.channel import FaceChannel

            out.face = FaceChannel(_path(config.face_model), detect_every=config.face_detect_every,
                                   threads=config.threads)
        except (EmoliveError, ImportError, OSError) as exc:
            problems.append(f"face channel unavailable: {exc}")
    if voice:
        try:
            from emolive.voice.channel import VoiceChannel

            out.voice = VoiceChannel(_path(config.voice_model), threads=config.threads)
        except (EmoliveError, ImportError, OSError) as exc:
            problems.append(f"voice channel unavailable: {exc}")
    if text:
        try:
            from emolive.text.channel import TextChannel

            out.text = TextChannel(_path(config.text_model), threads=config.threads)
        except (EmoliveError, ImportError, OSError) as exc:
            problems.append(f"text channel unavailable: {exc}")
    from emolive.device import resolve_device

    out.device = resolve_device(config.device)
    if out.device != "cpu":
        for channel in (out.face, out.voice, out.text):
            if channel is not None and hasattr(channel, "to"):
                channel.to(out.device)
    for problem in problems:
        log.warning(problem)
    if warm_up:
        _warm_up(out)
    out.problems = tuple(problems)
    out.load_s = time.perf_counter() - started
    return out


def _warm_up(channels: Channels) -> None:
    """One throw-away call per channel so the first real step is not slow (lazy init, allocator)."""
    if channels.face is not None:
        channels.face.process(VideoFrame(t=0.0, index=-1, image=np.zeros((480, 640, 3), np.uint8)))
        if hasattr(channels.face, "reset"):
            channels.face.reset()
    if channels.voice is not None:
        rng = np.random.default_rng(0)
        channels.voice.process((0.01 * rng.standard_normal(32000)).astype(np.float32), 0.0)
    if channels.text is not None:
        channels.text.process("warm up", 0.0)
