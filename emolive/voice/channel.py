"""The live voice channel: latest ~2 s of audio -> ModalityOutput (emotion, arousal, embedding) or "no speech".

Two model kinds load from a model folder's ``config.json``: the log-mel CNN (``encoder`` absent or
``logmel-cnn``; a few ms per window) and linear heads on Whisper tiny.en encoder embeddings
(``encoder: whisper-tiny.en``; more accurate on held-out speakers, tens of ms per window).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from emolive.core.contracts import ModalityOutput, frozen_array
from emolive.core.errors import ModelError
from emolive.core.softmax import softmax
from emolive.voice.heads import LinearHeads
from emolive.voice.norm import NormSettings, RunningNorm, norm_rank
from emolive.voice.prosody import DIM, VERSION, prosody_features
from emolive.voice.whisper_encoder import WhisperEmbedder, pooled

log = logging.getLogger(__name__)

DEFAULT_MIN_SPEECH = 0.25  # fraction of 32 ms VAD chunks that must hold speech


class _CnnBackend:
    """Log-mel windows -> VoiceNet; whole clips are scored as speech-weighted sliding windows."""

    def __init__(self, config: dict[str, Any], model_dir: Path, vad: Any, threads: int = 1) -> None:
        try:
            import torch
        except ImportError as exc:
            raise ModelError(f"{model_dir}: the log-mel voice CNN runs on torch (pip install 'emolive[train]'); "
                             "the default Whisper-embedding model needs no torch") from exc

        from emolive.models.device import limit_torch_threads
        from emolive.models.io import load_into
        from emolive.voice.features import FeatureSpec, LogMel
        from emolive.voice.model import VoiceModelConfig, VoiceNet

        limit_torch_threads(threads)
        self._torch = torch
        self.spec = FeatureSpec.from_dict(config.get("features", {}))
        self.model_config = VoiceModelConfig.from_dict(config["model"])
        self.model = load_into(VoiceNet(self.model_config), model_dir)
        self.window_s = float(self.model_config.window_s)
        self.hop_s = float(config.get("scoring", {}).get("hop_s", 0.5))
        self._window = self.spec.seconds_to_frames(self.window_s)
        self._logmel = LogMel(self.spec)
        self._vad = vad

    def _forward(self, windows: np.ndarray, temperature: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with self._torch.inference_mode():
            logits, arousal, emb = self.model(self._torch.from_numpy(np.ascontiguousarray(windows)))
            probs = self._torch.softmax(logits / temperature, dim=-1)
        return probs.numpy(), arousal.numpy(), emb.numpy()

    def reset(self) -> None:
        """Nothing carries over between windows."""

    def state(self) -> dict:
        return {}

    def restore(self, state: dict) -> None:
        """Nothing to restore."""

    def window(self, audio: np.ndarray, temperature: float, weight: float = 1.0
               ) -> tuple[np.ndarray, float, np.ndarray, np.ndarray | None]:
        from emolive.voice.features import fit_window

        features = self._logmel(audio)
        start = max(0, len(features) - self._window)
        probs, arousal, emb = self._forward(fit_window(features, self._window, start)[None], temperature)
        return probs[0], float(arousal[0]), emb[0], None

    def clip(self, audio: np.ndarray, temperature: float, min_speech: float) -> tuple[np.ndarray, float]:
        from emolive.asr.vad import CHUNK
        from emolive.voice.features import clip_windows, frame_speech_mask

        features = self._logmel(audio)
        mask = frame_speech_mask(self._vad.probabilities(audio), len(features), self.spec, CHUNK)
        hop = max(1, int(round(self.hop_s * self.spec.sample_rate / self.spec.hop_length)))
        windows, weights = clip_windows(features, mask, self._window, hop, min_speech)
        probs, arousal, _ = self._forward(windows, temperature)
        w = weights / weights.sum()
        return (probs * w[:, None]).sum(0), float((arousal * w).sum())


class _WhisperBackend:
    """Whisper tiny.en encoder embedding (mean+std pooled) [+ prosodic statistics of the same audio] ->
    [running speaker normalisation] -> linear emotion and arousal heads."""

    def __init__(self, config: dict[str, Any], model_dir: Path, threads: int) -> None:
        from emolive.voice.features import FeatureSpec

        self.spec = FeatureSpec()
        self.window_s = float(config.get("window_s", 2.0))
        prosody = config.get("prosody") or {}
        running = config.get("running_norm")
        if prosody and (int(prosody.get("dim", -1)) != DIM or int(prosody.get("version", -1)) != VERSION):
            raise ModelError(f"{model_dir}: prosodic features {prosody} do not match this version "
                             f"(dim {DIM}, version {VERSION})")
        settings = NormSettings.from_dict(running) if running is not None else None
        self.head = LinearHeads(model_dir, int(config["embedding_dim"]), len(config["labels"]),
                                norm=str(config.get("embedding_norm", "none")),
                                prosody_dim=int(prosody.get("dim", 0)), running=settings is not None,
                                norm_rank=norm_rank(settings))
        self.norm: RunningNorm | None = None
        if settings is not None:
            self.norm = RunningNorm(self.head.norm_mean, self.head.norm_var, settings, self.head.norm_basis)
        self.pooling = str(config.get("pooling", "mean+std"))
        pooled(np.zeros(2), self.pooling)  # an unknown pooling fails here, at load
        self._embedder = WhisperEmbedder(threads=threads)

    def reset(self) -> None:
        if self.norm is not None:
            self.norm.reset()

    def state(self) -> dict:
        return {"norm": None if self.norm is None else self.norm.state()}

    def restore(self, state: dict) -> None:
        if (state.get("norm") is None) != (self.norm is None):
            raise ValueError("the voice snapshot does not match this model's running normalisation")
        if self.norm is not None:
            self.norm.restore(state["norm"])

    def _embed(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(768-d embedding, head input before the running normalisation) of ``audio``: no session state."""
        emb = self._embedder.embed(audio)
        prosody = None
        if self.head.prosody_dim:
            prosody = prosody_features(audio)
        return emb, self.head.prepare(pooled(emb, self.pooling), prosody)

    def clip_input(self, audio: np.ndarray) -> np.ndarray:
        return self._embed(audio)[1]

    def score_input(self, features: np.ndarray, temperature: float, weight: float = 1.0
                    ) -> tuple[np.ndarray, float, np.ndarray]:
        """(probabilities, arousal, normalised features) of a head input; moves the running statistics."""
        if self.norm is not None:
            features = self.norm(features, weight)
        logits, arousal = self.head(features[None])
        probs = softmax(np.asarray(logits, dtype=np.float64) / max(temperature, 1e-3), axis=-1).astype(np.float32)
        return probs[0], float(arousal[0]), features

    def _score(self, audio: np.ndarray, temperature: float, weight: float
               ) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
        emb, features = self._embed(audio)
        probs, arousal, features = self.score_input(features, temperature, weight)
        return probs, arousal, emb, features

    def window(self, audio: np.ndarray, temperature: float, weight: float = 1.0
               ) -> tuple[np.ndarray, float, np.ndarray, np.ndarray | None]:
        return self._score(audio, temperature, weight)

    def clip(self, audio: np.ndarray, temperature: float, min_speech: float) -> tuple[np.ndarray, float]:
        probs, arousal, _, _ = self._score(audio, temperature, 1.0)
        return probs, arousal


class VoiceChannel:
    """Voice emotion from 16 kHz mono float32 audio.

    Loads ``model_dir`` (default: the shipped ``assets/voice``) and the Silero VAD. One instance per thread.
    ``threads`` caps the encoder's threads (and torch's for the log-mel CNN; the app shares the machine's cores).

    A model with ``running_norm`` in its config standardises every speech window by the running statistics of
    the speech heard so far in the session (``reset`` starts a session: call it when a session or file
    starts). A window counts as the share of its audio that is new since the last scored window, so
    overlapping live windows weigh as much as the non-overlapping clips of training; each whole clip given to
    ``predict_clip`` counts as one update.
    """

    def __init__(self, model_dir: Path | None = None, threads: int = 1) -> None:
        from emolive.asr.vad import SpeechDetector, SpeechTimeline
        from emolive.models.assets import default_model_dir
        from emolive.models.io import load_config

        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir("voice")
        config = load_config(self.model_dir)
        encoder = config.get("encoder", "logmel-cnn")
        if config.get("kind", "voice") != "voice" or (encoder == "logmel-cnn" and "model" not in config):
            raise ModelError(f"{self.model_dir} does not hold a voice model (config.json lacks its settings)")
        self._vad = SpeechDetector()  # whole clips (predict_clip)
        # the session's speech probabilities, each chunk computed once; the transcriber reads the same timeline
        self.speech = SpeechTimeline(sample_rate=16_000)
        if encoder == "logmel-cnn":
            self._backend: _CnnBackend | _WhisperBackend = _CnnBackend(config, self.model_dir, self._vad,
                                                                              threads)
        elif encoder == "whisper-tiny.en":
            self._backend = _WhisperBackend(config, self.model_dir, threads)
        else:
            raise ModelError(f"{self.model_dir}: unknown voice encoder {encoder!r}")
        self.encoder: str = encoder
        self.spec = self._backend.spec
        self.temperature = float(config.get("temperature", 1.0))
        self.min_speech = float(config.get("scoring", {}).get("min_speech", DEFAULT_MIN_SPEECH))
        self.window_s: float = self._backend.window_s
        self._last_t: float | None = None

    @property
    def stateful(self) -> bool:
        """True when scores depend on the session so far (running speaker normalisation)."""
        return getattr(self._backend, "norm", None) is not None

    def reset(self) -> None:
        """Start a new session: forget the running speaker statistics."""
        self._backend.reset()
        self.speech.reset()
        self._last_t = None

    def state(self) -> dict:
        """The session so far: the speech track's VAD stream, the running speaker statistics, the last window's
        time (the weight of the next one depends on it)."""
        return {"speech": self.speech.state(), "backend": self._backend.state(), "last_t": self._last_t}

    def restore(self, state: dict) -> None:
        self.speech.restore(state["speech"])
        self._backend.restore(state["backend"])
        self._last_t = None if state["last_t"] is None else float(state["last_t"])

    @property
    def window_samples(self) -> int:
        return int(round(self.window_s * self.spec.sample_rate))

    def process(self, samples: np.ndarray, t: float) -> ModalityOutput:
        """Score the latest window (16 kHz mono float32 ending at session time ``t``)."""
        started = time.perf_counter()
        audio = np.asarray(samples, dtype=np.float32).reshape(-1)[-self.window_samples:]
        speech = self.speech.window(audio, t)
        presence = float((speech >= self._vad.threshold).mean()) if speech.size else 0.0
        if presence < self.min_speech:
            return ModalityOutput(modality="voice", t=t, present=False, reason="no speech", quality=presence,
                                  latency_ms=(time.perf_counter() - started) * 1000.0)
        weight = 1.0 if self._last_t is None else min(1.0, max(0.0, (t - self._last_t) / self.window_s))
        self._last_t = t
        probs, arousal, emb, features = self._backend.window(audio, self.temperature, weight)
        return ModalityOutput(
            modality="voice", t=t, present=True,
            emotion=tuple(float(p) for p in probs),
            arousal=arousal,
            quality=presence,
            embedding=frozen_array(np.array(emb, dtype=np.float32)),
            latency_ms=(time.perf_counter() - started) * 1000.0,
            head_input=None if features is None else frozen_array(np.array(features, dtype=np.float32)),
        )

    def score_window(self, samples: np.ndarray) -> tuple[np.ndarray, float]:
        """Score ``samples`` as one speech window whatever the VAD says; the session state stays as it was."""
        audio = np.asarray(samples, dtype=np.float32).reshape(-1)[-self.window_samples:]
        state = self._backend.state()
        try:
            probs, arousal, _, _ = self._backend.window(audio, self.temperature, 1.0)
        finally:
            self._backend.restore(state)
        return np.asarray(probs, dtype=np.float32), float(arousal)

    def clip_input(self, samples: np.ndarray) -> np.ndarray | None:
        """What a whole clip gives the running normalisation (no session state moves): the head input of a
        stateful model, else None (then ``predict_clip`` is all there is). With ``predict_input`` it scores the
        same clip under several session plans while embedding it once."""
        audio = np.asarray(samples, dtype=np.float32).reshape(-1)
        if audio.size == 0:
            raise ModelError("empty audio clip")
        if not self.stateful:
            return None
        return self._backend.clip_input(audio)  # type: ignore[union-attr]

    def predict_input(self, features: np.ndarray) -> tuple[np.ndarray, float]:
        """``predict_clip`` of the clip whose ``clip_input`` is ``features`` (counts as one update)."""
        probs, arousal, _ = self._backend.score_input(features, self.temperature, 1.0)  # type: ignore[union-attr]
        return probs, arousal

    def predict_clip(self, samples: np.ndarray) -> tuple[np.ndarray, float]:
        """Whole clip -> (calibrated probabilities over EMOTIONS, arousal).

        The CNN scores speech windows (hop ``hop_s``) and averages them weighted by their speech fraction
        (a clip without detected speech is scored on its window with the most speech); the Whisper model
        embeds the whole clip at once.
        """
        audio = np.asarray(samples, dtype=np.float32).reshape(-1)
        if audio.size == 0:
            raise ModelError("empty audio clip")
        return self._backend.clip(audio, self.temperature, self.min_speech)
