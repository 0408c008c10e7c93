"""Personal calibration of the late-fusion layer on the user's own prompted takes (no I/O, no Qt).

The user follows a few prompts (a neutral baseline and some expressions with a phrase), each recorded twice.
Every estimate the live pipeline produces while a take is recorded becomes one sample: the per-modality
emotion log-probabilities and trust exactly as the late fusion sees them, labelled with the prompt's emotion.
The first takes fit the fusion's class biases (optionally its modality weights), pulled towards their old
values; the last takes are held back to show the effect before and after.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emolive.core.contracts import EmotionEstimate
from emolive.core.labels import EMOTIONS
from emolive.voice.adapt import DEFAULT_PRIOR_STRENGTH, adapt_head, log_probs

log = logging.getLogger(__name__)

MODALITIES = ("face", "voice", "text")


@dataclass(frozen=True)
class Prompt:
    emotion: str  # one of labels.EMOTIONS
    instruction: str


PROMPTS: tuple[Prompt, ...] = (
    Prompt("neutral", "Relax, look at the camera with a neutral face and say: \"The meeting is at three o'clock.\""),
    Prompt("joy", "Smile and say, happily: \"That is wonderful news, I love it!\""),
    Prompt("sadness", "Look sad and say, slowly: \"I really miss them.\""),
    Prompt("anger", "Frown and say, firmly: \"This is not acceptable!\""),
    Prompt("surprise", "Raise your eyebrows and say: \"Wow, I did not expect that!\""),
)


def sample_of(estimate: EmotionEstimate, policy: Any = None) -> tuple[np.ndarray, np.ndarray] | None:
    """(log-probabilities [3, 7], trust [3]) of one estimate as the late fusion sees them; None if nothing is usable."""
    from emolive.fusion.late import TrustPolicy, evidence

    policy = policy or TrustPolicy()
    log_probs = np.full((len(MODALITIES), len(EMOTIONS)), -np.log(len(EMOTIONS)))
    trust = np.zeros(len(MODALITIES))
    for i, name in enumerate(MODALITIES):
        out = estimate.modality(name)
        trust[i] = policy.trust(out, estimate.t)
        if trust[i] > 0:
            log_probs[i] = evidence(out.emotion, out.prior)
    return (log_probs, trust) if trust.sum() > 0 else None


def voice_embedding_of(estimate: EmotionEstimate) -> np.ndarray | None:
    """What the voice head read in ``estimate`` when the voice was heard (its ``head_input``: the embedding with
    prosody after the running normalisation; the plain embedding for a channel that gives none), else None."""
    out = estimate.modality("voice")
    if out is None or not out.present:
        return None
    features = out.head_input if out.head_input is not None else out.embedding
    return None if features is None else np.asarray(features, dtype=np.float32)


def head_dim(head: Any) -> int:
    """How many features a voice head reads (embedding, plus prosody when it uses them)."""
    return int(head.emotion.in_features)


@dataclass
class Samples:
    log_probs: list[np.ndarray] = field(default_factory=list)
    trust: list[np.ndarray] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    voice: list[np.ndarray | None] = field(default_factory=list)  # the voice embedding of each sample, if heard

    def add(self, log_probs: np.ndarray, trust: np.ndarray, label: int, voice: np.ndarray | None = None) -> None:
        self.log_probs.append(log_probs)
        self.trust.append(trust)
        self.labels.append(label)
        self.voice.append(voice)

    def voice_arrays(self, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(indices, embeddings [N, dim], labels) of the samples whose voice embedding has ``dim`` values."""
        idx = [i for i, v in enumerate(self.voice) if v is not None and v.shape == (dim,)]
        x = np.stack([self.voice[i] for i in idx]) if idx else np.zeros((0, dim), np.float32)
        return np.array(idx, dtype=int), x, np.array([self.labels[i] for i in idx], dtype=int)

    def with_voice(self, head: Any, dim: int, temperature: float) -> Samples:
        """A copy whose voice log-probabilities come from ``head`` (an adapted voice head) where heard."""
        idx, x, _ = self.voice_arrays(dim)
        rows = [lp.copy() for lp in self.log_probs]
        if len(idx):
            for i, lp in zip(idx, log_probs(head, x, temperature), strict=True):
                rows[i][MODALITIES.index("voice")] = lp
        return Samples(rows, list(self.trust), list(self.labels), list(self.voice))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self.labels:
            return np.zeros((0, 3, 7)), np.zeros((0, 3)), np.zeros(0, dtype=int)
        return np.stack(self.log_probs), np.stack(self.trust), np.array(self.labels)


class CalibrationSession:
    """The prompt schedule (all prompts once, then all again, ...) and the samples of each take."""

    def __init__(self, prompts: Sequence[Prompt] = PROMPTS, takes: int = 2) -> None:
        if takes < 2:
            raise ValueError("calibration needs at least 2 takes per prompt (one is held back)")
        self.schedule = [(p, k) for k in range(takes) for p in prompts]
        self.takes = takes
        self.index = 0
        self.fit_samples, self.held_samples = Samples(), Samples()
        self._heard: set[int] = set()  # schedule positions (takes) that gave at least one usable estimate

    def takes_heard(self) -> tuple[int, int]:
        """(fitting takes, held-back takes) that gave at least one usable estimate."""
        held = sum(1 for i in self._heard if self.schedule[i][1] == self.takes - 1)
        return len(self._heard) - held, held

    @property
    def current(self) -> tuple[Prompt, int] | None:
        return self.schedule[self.index] if self.index < len(self.schedule) else None

    @property
    def finished(self) -> bool:
        return self.index >= len(self.schedule)

    def add(self, estimate: EmotionEstimate) -> bool:
        """Record one estimate into the current take; False when there is no take or nothing usable."""
        current = self.current
        sample = sample_of(estimate) if current is not None else None
        if sample is None:
            return False
        prompt, take = current
        target = self.held_samples if take == self.takes - 1 else self.fit_samples
        target.add(*sample, EMOTIONS.index(prompt.emotion), voice_embedding_of(estimate))
        self._heard.add(self.index)
        return True

    def next(self) -> None:
        self.index += 1


def evaluate(model: Any, samples: Samples) -> dict[str, Any]:
    """classification_report of the fused predictions on ``samples``."""
    import torch

    from emolive.evaluation.metrics import classification_report

    x, trust, y = samples.arrays()
    if len(y) == 0:
        return classification_report([], [], EMOTIONS)
    with torch.no_grad():
        fused, _ = model(torch.from_numpy(x).float(), torch.from_numpy(trust).float())
    return classification_report(y, fused.argmax(1).numpy(), EMOTIONS)


def fit_biases(model: Any, samples: Samples, steps: int = 300, lr: float = 0.05, l2: float = 0.01,
               weights: bool = False) -> Any:
    """A copy of the LateFusion ``model`` with its class biases (and modality weights if ``weights``) fitted on
    ``samples`` (class-balanced NLL plus ``l2`` times the squared distance from the old values)."""
    import torch

    x, trust, y = samples.arrays()
    if len(y) == 0:
        raise ValueError("no usable calibration samples (was a face, voice or text present?)")
    tuned = copy.deepcopy(model).train()
    params = [tuned.class_bias] + ([tuned.weight_logits] if weights else [])
    if not weights:
        tuned.weight_logits.requires_grad_(False)
    start = [p.detach().clone() for p in params]
    counts = np.bincount(y, minlength=len(EMOTIONS)).astype(np.float64)
    class_weight = torch.tensor(np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / (counts > 0).sum(), 0.0),
                                dtype=torch.float32)
    xt, tt, yt = torch.from_numpy(x).float(), torch.from_numpy(trust).float(), torch.from_numpy(y)
    optimizer = torch.optim.Adam(params, lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        fused, _ = tuned(xt, tt)
        loss = torch.nn.functional.nll_loss(fused, yt, weight=class_weight)
        loss = loss + l2 * sum(((p - s) ** 2).sum() for p, s in zip(params, start, strict=True))
        loss.backward()
        optimizer.step()
    tuned.weight_logits.requires_grad_(True)
    return tuned.eval()


MIN_VOICE_SAMPLES = 10  # fewer heard samples in the first (or the held-back) takes: the voice head is left alone


@dataclass(frozen=True)
class VoiceAdaptation:
    head: Any  # the adapted EmbeddingHead
    before: dict[str, Any]  # voice-only classification report on the held-back takes, starting head
    after: dict[str, Any]  # the same with the adapted head


def adapt_voice(head: Any, config: dict[str, Any], fit: Samples, held: Samples,
                strength: float | None = None) -> VoiceAdaptation | None:
    """Adapt a Whisper-embedding voice head to the voice in the first takes; None when too little was heard."""
    from emolive.evaluation.metrics import classification_report

    dim, temperature = head_dim(head), float(config.get("temperature", 1.0))
    _, x, y = fit.voice_arrays(dim)
    _, hx, hy = held.voice_arrays(dim)
    if len(y) < MIN_VOICE_SAMPLES or len(hy) < MIN_VOICE_SAMPLES or len(np.unique(y)) < 2:
        return None
    tuned = adapt_head(head, x, y, DEFAULT_PRIOR_STRENGTH if strength is None else strength)

    def report(h: Any) -> dict[str, Any]:
        return classification_report(hy, log_probs(h, hx, temperature).argmax(1), EMOTIONS)

    return VoiceAdaptation(tuned, report(head), report(tuned))
