"""The one place the transcription stream is assembled (Whisper + gated decoder + VAD + commit policy).

The live transcriber thread and offline analysis both call ``build_stream``; they differ only in the
``StreamConfig`` they pass (live cadence, or the file's clock with one decode per utterance).
"""

from __future__ import annotations

import numpy as np

from emolive.asr.decoder import MIN_PASS_S, DecodeOptions, WhisperDecoder
from emolive.asr.models import shared_whisper
from emolive.asr.streaming import StreamConfig, StreamingTranscriber
from emolive.asr.vad import SpeechTimeline


def build_stream(model: str, config: StreamConfig, language: str | None = None, threads: int = 1,
                 device: str = "cpu", warm_up: bool = False, speech: SpeechTimeline | None = None,
                 min_pass_s: float = MIN_PASS_S) -> StreamingTranscriber:
    """A streaming transcriber on the process's shared Whisper ``model``; ``warm_up`` decodes one second of
    silence first (the first call is slow); ``speech``: the session's shared speech timeline (default: its own);
    ``min_pass_s``: ``DecodeOptions.min_pass_s``."""
    decoder = WhisperDecoder(shared_whisper(model, threads=threads, device=device),
                             DecodeOptions(language=language or None, min_pass_s=min_pass_s))
    if warm_up:
        decoder(np.zeros(config.sample_rate, dtype=np.float32))
        decoder.reset()
    return StreamingTranscriber(decoder, config=config, speech=speech)
