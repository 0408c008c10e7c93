"""Late fusion: trust-weighted log-linear pooling of per-modality emotion probabilities.

Learnable parameters (trained on frozen per-modality models by ``python -m training fusion``):
3 modality weights (a softmax, so non-negative and summing to 1) and 7 per-class biases.
At run time each modality's weight is further scaled by how far it can be trusted right now
(see ``trust``), so a missing or stale modality simply drops out without retraining.

Words are read as they deserve: most of what people say carries no emotion, and a text model that finds
none answers "neutral". That is absence of evidence, not evidence of a neutral person, so the text
channel's trust is scaled by how emotional its reading is (``1 - 2 p(neutral)``, see ``TrustPolicy.relevance``):
a neutral sentence does not vote while an emotional one counts in full. A channel's own class prior (its training
labels' shares, ``ModalityOutput.prior``) is divided out before pooling (``evidence``). The voice's quality is the
speech share of its window; a window with enough speech to be scored counts in full
(``TrustPolicy.voice_full_speech``), since the pauses of normal speech otherwise left the voice a third of the weight
against an equally sure face. ``agreement`` says how far the trusted channels tell the same story.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from emolive.core.contracts import ModalityOutput
from emolive.core.labels import EMOTIONS
from emolive.core.softmax import log_softmax, softmax

MODALITIES: tuple[str, ...] = ("face", "voice", "text")
EPS = 1e-6
NEUTRAL = EMOTIONS.index("neutral")
AGREEMENT_MIN_SHARE = 0.1  # a channel with a smaller share of the fusion weight does not count as trusted


def late_pool(log_probs: np.ndarray, trust: np.ndarray, weight_logits: np.ndarray, class_bias: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """fused = softmax(sum_m a_m log p_m / sum_m a_m + bias), a_m = softmax(w)_m * trust_m (numpy, float64).

    log_probs [..., M, C], trust [..., M] in [0, 1] (0 = absent): one step or a batch. Returns (fused
    log-probs [..., C], a [..., M]); the same arithmetic as the trainable ``LateFusion`` module
    (emolive/fusion/late_model.py).
    """
    a = softmax(np.asarray(weight_logits, dtype=np.float64)) * np.asarray(trust, dtype=np.float64)
    share = a / np.maximum(a.sum(axis=-1, keepdims=True), EPS)
    pooled = np.einsum("...m,...mc->...c", share, np.asarray(log_probs, dtype=np.float64)) + class_bias
    return log_softmax(pooled, axis=-1), a


def evidence(emotion: Any, prior: Any = None) -> np.ndarray:
    """log-probabilities [..., C] of a channel's reading with its own class prior divided out (renormalised).

    A channel trained on skewed classes (FER2013: joy 26%, disgust 1.4%) carries that skew in its
    probabilities, while the voice is trained to a uniform prior; pooling them as they are mixes two priors,
    by a share that changes with which channels are present. Dividing each channel's prior out first makes
    every reading vote with the same uniform prior (the learned ``class_bias`` can set another).
    """
    log_p = np.log(np.clip(np.asarray(emotion, dtype=np.float64), EPS, 1.0))
    if prior is None:
        return log_p
    prior = np.asarray(prior, dtype=np.float64)
    # a class the model never saw (share 0) gets no boost: it is read as if its share were uniform
    prior = np.where(prior > EPS, prior, 1.0 / prior.shape[-1])
    return log_softmax(log_p - np.log(prior), axis=-1)


def _array(values: Any) -> np.ndarray:
    """float64 numpy of a parameter (a torch tensor or an array)."""
    if hasattr(values, "detach"):
        values = values.detach().double().cpu().numpy()
    return np.asarray(values, dtype=np.float64).reshape(-1)


def fused_predictions(model: Any, log_probs: np.ndarray, trust: np.ndarray) -> np.ndarray:
    """The fused class index per row of batched per-modality log-probabilities [B, M, C] and trusts [B, M].

    ``model`` holds the parameters: a ``Fuser`` (numpy) or a trainable ``LateFusion`` module.
    """
    fused, _ = late_pool(log_probs, trust, _array(model.weight_logits), _array(model.class_bias))
    return fused.argmax(axis=-1)


@dataclass(frozen=True)
class TrustPolicy:
    """How much each modality can be trusted now, from its quality, age and certainty (pure arithmetic)."""

    face_tau_s: float = 0.5  # trust halves roughly every 0.7 tau of staleness
    voice_tau_s: float = 1.0
    text_tau_s: float = 10.0
    text_max_age_s: float = 20.0
    text_emotional_gate: bool = True  # scale the text channel's trust by how emotional the words are
    # how emotional (1 - p(neutral)) words must be to count: relevance = clip((1 - p(neutral) - m) / (1 - m), 0, 1)
    text_neutral_margin: float = 0.5
    # speech share of the voice window (the voice channel's quality) from which the voice counts in full; below
    # it trust scales with the share. 1.0 is the old rule (trust = share, about 0.55 on speech with pauses).
    voice_full_speech: float = 0.25

    def trust(self, output: ModalityOutput | None, now: float) -> float:
        if output is None or not output.present or output.emotion is None:
            return 0.0
        age = max(0.0, now - output.t)
        tau = {"face": self.face_tau_s, "voice": self.voice_tau_s, "text": self.text_tau_s}[output.modality]
        if output.modality == "text" and age > self.text_max_age_s:
            return 0.0
        freshness = math.exp(-age / tau)
        relevance = self.relevance(output.modality, output.emotion)
        quality = float(np.clip(output.quality, 0.0, 1.0))
        if output.modality == "voice":
            quality = min(1.0, quality / max(float(self.voice_full_speech), 1e-3))
        return float(quality * freshness * self.certainty(output.emotion) * relevance)

    def relevance(self, modality: str, emotion) -> float:
        """How much a reading can say about the emotion: for words, how emotional they are.

        A face or a voice that looks or sounds neutral is evidence of a neutral person (1.0); words that
        carry no emotion are not. With the default margin 0.5 the words count only when the text model finds
        an emotion more likely than neutral, and in full as p(neutral) goes to 0 (1 - 2 p(neutral)), so the
        text channel's "neutral", and its unsure readings of neutral words, hardly vote while "anger" still
        does. Always 1.0 with ``text_emotional_gate`` off.
        """
        if modality != "text" or not self.text_emotional_gate:
            return 1.0
        p = np.clip(np.asarray(emotion, dtype=np.float64), 0.0, None)
        total = float(p.sum())
        if total <= 0:
            return 0.0
        emotional = 1.0 - p[NEUTRAL] / total
        margin = min(max(float(self.text_neutral_margin), 0.0), 0.99)
        return float(np.clip((emotional - margin) / (1.0 - margin), 0.0, 1.0))

    @staticmethod
    def certainty(emotion) -> float:
        """0.5 for a flat distribution up to 1.0 for a one-hot one (1 - normalised entropy, halved)."""
        p = np.clip(np.asarray(emotion, dtype=np.float64), EPS, 1.0)
        p = p / p.sum()
        entropy = float(-(p * np.log(p)).sum() / math.log(len(p)))
        return 0.5 + 0.5 * (1.0 - entropy)


def agreement(probs: np.ndarray, share: np.ndarray, min_share: float = AGREEMENT_MIN_SHARE) -> float | None:
    """How much the trusted channels agree, in [0, 1]; None when fewer than two are trusted.

    ``probs`` [M, C] are the channels' emotion distributions, ``share`` [M] their fusion weights (any scale).
    Channels holding at least ``min_share`` of the weight count; the value is the weight-averaged overlap
    sum_c min(p_i(c), p_j(c)) (1 - total variation distance) over their pairs: the probability mass two
    readings share, 1 when identical, 0 when each channel is sure of a different class.
    """
    share = np.asarray(share, dtype=np.float64)
    total = share.sum()
    if total <= 0:
        return None
    share = share / total
    trusted = np.flatnonzero(share >= min_share)
    if len(trusted) < 2:
        return None
    p = np.clip(np.asarray(probs, dtype=np.float64)[trusted], 0.0, None)
    p = p / np.clip(p.sum(axis=1, keepdims=True), EPS, None)
    w = share[trusted]
    num = den = 0.0
    for a in range(len(trusted)):
        for b in range(a + 1, len(trusted)):
            pair = w[a] * w[b]
            num += pair * float(np.minimum(p[a], p[b]).sum())
            den += pair
    return float(np.clip(num / den, 0.0, 1.0))
