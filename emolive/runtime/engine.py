"""The one assembly of the engine that live capture and offline analysis share: rings, fuser, inference worker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emolive.asr.vad import SpeechTimeline
from emolive.config import AppConfig
from emolive.core.abilities import Resettable
from emolive.core.rings import AudioRing, FrameRing
from emolive.fusion.fuser import fuser_for
from emolive.runtime.channels import Channels
from emolive.runtime.worker import InferenceWorker
from emolive.voice.channel import VoiceChannel


@dataclass(frozen=True)
class Engine:
    """One session's rings and worker, and ``speech``: the voice channel's speech probabilities of the session's
    audio (None without a voice channel). Hand it to the transcription stream, so each chunk's VAD runs once."""

    frames: FrameRing
    audio: AudioRing
    worker: InferenceWorker
    speech: SpeechTimeline | None


OFFLINE_FRAME_RING = 90  # frames: 3 s at 30 fps, more than a media file's audio/video interleave


def new_rings(config: AppConfig, offline: bool = False) -> tuple[FrameRing, AudioRing]:
    """The frame and audio rings the capture sources (or a file's decoder) write into.

    ``offline``: for analysing a file, where frames are written as decoded, ahead of the steps by as much as
    the container interleaves video before audio; a step must still find the frame of its time, so the ring
    keeps at least ``OFFLINE_FRAME_RING`` frames whatever ``capture.frame_ring`` (the live ring) says.
    """
    frames = config.capture.frame_ring
    return FrameRing(max(frames, OFFLINE_FRAME_RING) if offline else frames), AudioRing(config.capture.audio_seconds)


def build_engine(config: AppConfig, channels: Channels, rings: tuple[FrameRing, AudioRing] | None = None,
                 face: bool = True, voice: bool = True, **worker_options: Any) -> Engine:
    """Rings (new unless given), the configured fuser and the inference worker over ``channels``.

    A new engine is a new session: the face tracks and the voice's running speaker statistics start over.
    ``face``/``voice`` False leave that channel out (a file without video or audio); ``worker_options`` go to
    ``InferenceWorker`` (clock, callbacks, device, load shedding).
    """
    frames, audio = rings or new_rings(config)
    for channel in (channels.face, channels.voice):
        if isinstance(channel, Resettable):
            channel.reset()
    speech = channels.voice.speech if isinstance(channels.voice, VoiceChannel) and voice else None
    worker = InferenceWorker(frames, audio, fuser_for(config.inference), config.inference,
                             face=channels.face if face else None, voice=channels.voice if voice else None,
                             text=channels.text, **worker_options)
    return Engine(frames, audio, worker, speech)
