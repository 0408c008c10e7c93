"""The models of a job, loaded once per process and reused for every file it analyses.

A cache, not state: ``analysis.analyze_file`` starts each file as a new session (``build_engine`` resets the face
tracks and the voice's speaker statistics), so a reused channel carries nothing from one file to the next.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from emolive.config import AsrConfig, InferenceConfig, PeopleConfig


@lru_cache(maxsize=1)
def channels(inference: InferenceConfig, people: PeopleConfig | None = None) -> Any:
    """The face, voice and text channels for ``inference`` and ``people`` (the last settings asked for stay
    loaded; a new file resets the face channel's persons with its tracks)."""
    from emolive.runtime.channels import load_channels  # heavy: the model runtimes

    return load_channels(inference, people=people)


def whisper(model: str, threads: int) -> Any:
    """The process's shared Whisper model (``asr.models`` keeps it loaded) that the transcription streams use."""
    from emolive.asr.models import shared_whisper  # heavy: faster-whisper

    return shared_whisper(model, threads=threads)


def stream(config: AsrConfig) -> Any:
    """A new offline transcription stream on the shared Whisper model (``whisper`` loads it first)."""
    from emolive.offline.analysis import build_stream  # heavy: the whole pipeline

    return build_stream(config)
