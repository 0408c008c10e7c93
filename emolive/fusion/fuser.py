"""Turn per-modality outputs into one calibrated, smoothed estimate, or an honest "uncertain".

Two designs share this front end (trust, uncertain state, smoothing): ``Fuser`` (late fusion, the default)
and ``CrossModalFuser`` (the MulT-style transformer over recent embeddings, for models fine-tuned on aligned
data). ``make_fuser`` picks one from the configuration.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emolive.core.contracts import ModalityOutput
from emolive.core.errors import ModelError
from emolive.core.finite import finite_or_dropped
from emolive.core.labels import EMOTIONS, SENTIMENTS
from emolive.fusion.circumplex import sentiment_from_emotion
from emolive.fusion.late import MODALITIES, TrustPolicy, agreement, evidence, late_pool
from emolive.fusion.reliability import Reliability, ReliabilityPolicy
from emolive.fusion.smoothing import DEFAULT_SMOOTHING_S, ExponentialSmoother
from emolive.fusion.va import fuse_va
from emolive.models.assets import default_model_dir
from emolive.models.io import WEIGHTS_NAME, load_arrays, load_config, load_into

log = logging.getLogger(__name__)

UNCERTAIN = "uncertain"
NEUTRAL_VA = (0.5, 0.3)


@dataclass(frozen=True)
class FusedOutput:
    emotion: tuple[float, ...]
    sentiment: tuple[float, ...]
    valence: float
    arousal: float
    dominant: str
    confidence: float
    weights: tuple[tuple[str, float], ...]
    staleness: tuple[tuple[str, float], ...]
    agreement: float | None = None  # how much the trusted channels agree (late.agreement); None below two
    discounts: tuple[tuple[str, str], ...] = ()  # (modality, reason) of each channel whose weight was cut


def _floats(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(x) for x in values)


class Fuser:
    """Late fusion + sentiment/valence/arousal derivation + smoothing, with an uncertain state.

    ``min_trust``: below this total trust (no usable face, no speech, no recent words) the estimate
    is "uncertain" with confidence 0, and the smoothed distribution relaxes towards uniform.
    Smoothing lag: ``smoothing_s`` (time to 63% of a step change).
    """

    def __init__(self, model: Any = None, policy: TrustPolicy | None = None,
                 smoothing_s: float = DEFAULT_SMOOTHING_S, min_trust: float = 0.05,
                 reliability: ReliabilityPolicy | None = None) -> None:
        self.weight_logits = np.zeros(len(MODALITIES))  # equal modality weights
        self.class_bias = np.zeros(len(EMOTIONS))
        if model is not None:  # a trained LateFusion module (training, personal calibration)
            self.weight_logits = model.weight_logits.detach().double().numpy().copy()
            self.class_bias = model.class_bias.detach().double().numpy().copy()
        self.policy = policy or TrustPolicy()
        self.min_trust = min_trust
        self.reliability = Reliability(MODALITIES, reliability)
        self._last_top: int | None = None  # the fused class of the step before (None: none yet or uncertain)
        self._emotion = ExponentialSmoother(smoothing_s)
        self._sentiment = ExponentialSmoother(smoothing_s)
        self._va = ExponentialSmoother(smoothing_s)

    @property
    def model(self) -> Any:
        """The parameters as a trainable torch ``LateFusion`` module (for training and personal calibration)."""
        import torch

        from emolive.fusion.late_model import LateFusion

        module = LateFusion()
        with torch.no_grad():
            module.weight_logits.copy_(torch.from_numpy(self.weight_logits))
            module.class_bias.copy_(torch.from_numpy(self.class_bias))
        return module.eval()

    @classmethod
    def from_dir(cls, directory: Path | None, **kwargs) -> Fuser:
        """Load learned late-fusion parameters (assets/fusion) if present, else equal weights."""
        directory = Path(directory) if directory else default_model_dir("fusion")
        fuser = cls(**kwargs)
        if (directory / WEIGHTS_NAME).is_file():
            state = load_arrays(directory)
            try:
                weights, bias = state["weight_logits"], state["class_bias"]
            except KeyError as exc:
                raise ModelError(f"the weights in {directory} are not late-fusion parameters (no {exc})") from exc
            if weights.shape != fuser.weight_logits.shape or bias.shape != fuser.class_bias.shape:
                raise ModelError(f"the weights in {directory} do not fit the late fusion "
                                 f"({weights.shape}, {bias.shape})")
            if not (np.all(np.isfinite(weights)) and np.all(np.isfinite(bias))):
                raise ModelError(f"the fusion model folder {directory} cannot be used: its weights are not finite "
                                 "(NaN or infinity), so they are damaged")
            fuser.weight_logits, fuser.class_bias = weights.astype(np.float64), bias.astype(np.float64)
        else:
            log.info("no learned fusion weights in %s: equal modality weights", directory)
        return fuser

    def reset(self) -> None:
        for s in (self._emotion, self._sentiment, self._va):
            s.reset()
        self.reliability.reset()
        self._last_top = None

    def set_smoothing(self, seconds: float) -> None:
        """A new smoothing time constant from the next step on (the smoothed values carry over)."""
        for s in (self._emotion, self._sentiment, self._va):
            s.tau_s = max(0.0, float(seconds))

    def state(self) -> dict:
        """The smoothers' memory (the learned parameters come from the model folder, not from here)."""
        return {"emotion": self._emotion.state(), "sentiment": self._sentiment.state(), "va": self._va.state()}

    def restore(self, state: dict) -> None:
        self._emotion.restore(state["emotion"])
        self._sentiment.restore(state["sentiment"])
        self._va.restore(state["va"])

    def fuse(self, outputs: dict[str, ModalityOutput | None], now: float) -> FusedOutput:
        outputs = {m: finite_or_dropped(o)[0] for m, o in outputs.items()}  # NaN never reaches the mix
        trust = np.array([self.policy.trust(outputs.get(m), now) for m in MODALITIES])
        staleness = tuple((m, round(now - outputs[m].t, 3)) for m in MODALITIES if outputs.get(m) is not None)
        factor, discounts = self.reliability.factors(outputs, trust, self._last_top, now)
        trust = trust * factor
        if trust.sum() < self.min_trust:
            self._last_top = None
            return self._uncertain(now, staleness)
        emotion, sentiment, valence, arousal, share = self._combine(outputs, trust, now)
        agree = self._agreement(outputs, share)
        coverage = min(1.0, float(trust.sum()) / 0.3)
        emotion = self._emotion.update(now, emotion)
        sentiment = self._sentiment.update(now, sentiment)
        va = self._va.update(now, np.array([valence, arousal]))
        top = int(np.argmax(emotion))
        self._last_top = top
        return FusedOutput(_floats(emotion), _floats(sentiment), float(va[0]), float(va[1]), EMOTIONS[top],
                           float(emotion[top] * coverage), tuple(zip(MODALITIES, share.tolist(), strict=True)),
                           staleness, agree, discounts)

    @staticmethod
    def _agreement(outputs: dict[str, ModalityOutput | None], share: np.ndarray) -> float | None:
        present = [i for i, m in enumerate(MODALITIES)
                   if share[i] > 0 and outputs.get(m) is not None and outputs[m].emotion is not None]
        if len(present) < 2:
            return None
        probs = np.stack([np.asarray(outputs[MODALITIES[i]].emotion, dtype=np.float64) for i in present])
        return agreement(probs, np.asarray(share, dtype=np.float64)[present] / float(np.sum(share)))

    def _uncertain(self, now: float, staleness: tuple) -> FusedOutput:
        emotion = self._emotion.update(now, np.full(len(EMOTIONS), 1.0 / len(EMOTIONS)))
        sentiment = self._sentiment.update(now, np.full(len(SENTIMENTS), 1.0 / len(SENTIMENTS)))
        va = self._va.update(now, np.array(NEUTRAL_VA))
        return FusedOutput(_floats(emotion), _floats(sentiment), float(va[0]), float(va[1]), UNCERTAIN, 0.0,
                           tuple((m, 0.0) for m in MODALITIES), staleness)

    def _combine(self, outputs: dict[str, ModalityOutput | None], trust: np.ndarray, now: float
                 ) -> tuple[np.ndarray, np.ndarray, float, float, np.ndarray]:
        """(emotion, sentiment, valence, arousal, modality shares) of this instant, before smoothing."""
        log_probs = np.stack([
            self.reliability.calibrated(m, evidence(outputs[m].emotion, outputs[m].prior))
            if trust[i] > 0 else np.full(len(EMOTIONS), -np.log(len(EMOTIONS)))
            for i, m in enumerate(MODALITIES)
        ])
        fused_log, a = late_pool(log_probs, trust, self.weight_logits, self.class_bias)
        share = a / a.sum() if a.sum() > 0 else np.zeros_like(a)
        emotion = np.exp(fused_log)
        valence, arousal = fuse_va(outputs, share, emotion)  # the rule is in emolive/fusion/va.py
        return emotion, self._sentiment_of(outputs, share, emotion), valence, arousal, share

    @staticmethod
    def _sentiment_of(outputs: dict[str, ModalityOutput | None], share: np.ndarray,
                      emotion: np.ndarray) -> np.ndarray:
        """Text's own sentiment head where words are trusted, the emotion-implied sentiment elsewhere."""
        implied = sentiment_from_emotion(emotion)
        text = outputs.get("text")
        if text is None or text.sentiment is None or share[2] <= 0:
            return implied
        own = np.asarray(text.sentiment, dtype=np.float64)
        return share[2] * own + (1 - share[2]) * implied


class CrossModalFuser(Fuser):
    """The cross-modal transformer over the recent face/voice embeddings and the latest text embedding."""

    def __init__(self, model, policy: TrustPolicy | None = None, smoothing_s: float = DEFAULT_SMOOTHING_S,
                 min_trust: float = 0.05, horizon_s: float = 3.0, history: int = 32) -> None:
        super().__init__(None, policy, smoothing_s, min_trust)
        self.net = model.eval()
        self.horizon_s = horizon_s
        self._history: dict[str, deque[tuple[float, np.ndarray]]] = {m: deque(maxlen=history) for m in MODALITIES}

    @classmethod
    def from_dir(cls, directory: Path | None, **kwargs) -> CrossModalFuser:
        from emolive.fusion.crossmodal import CrossModalConfig, CrossModalTransformer  # torch: only when chosen

        if directory is None:
            raise ModelError("the cross-modal fusion needs a fine-tuned model folder (inference.fusion_model); "
                             "train one with `emolive train fusion --arch crossmodal` or use fusion = \"late\"")
        config = load_config(Path(directory))
        if config.get("kind") != "crossmodal":
            raise ModelError(f"{directory} does not hold a cross-modal fusion model")
        model = load_into(CrossModalTransformer(CrossModalConfig.from_dict(config)), Path(directory))
        if not all(bool(p.isfinite().all()) for p in model.parameters()):
            raise ModelError(f"the fusion model folder {directory} cannot be used: its weights are not finite "
                             "(NaN or infinity), so they are damaged")
        return cls(model, **kwargs)

    def reset(self) -> None:
        super().reset()
        for h in self._history.values():
            h.clear()

    def state(self) -> dict:
        return {**super().state(), "history": {m: {"t": [t for t, _ in h], "embedding": [e.copy() for _, e in h]}
                                               for m, h in self._history.items()}}

    def restore(self, state: dict) -> None:
        super().restore(state)
        for m, h in self._history.items():
            saved = state["history"][m]
            h.clear()
            h.extend((float(t), np.asarray(e, dtype=np.float32)) for t, e in zip(saved["t"], saved["embedding"],
                                                                                   strict=True))

    def _combine(self, outputs, trust, now):
        import torch

        for i, m in enumerate(MODALITIES):
            out = outputs.get(m)
            h = self._history[m]
            if out is not None and trust[i] > 0 and out.embedding is not None and (not h or h[-1][0] != out.t):
                h.append((out.t, np.asarray(out.embedding, dtype=np.float32)))
            while h and now - h[0][0] > (self.policy.text_max_age_s if m == "text" else self.horizon_s):
                h.popleft()
        cfg = self.net.config
        dims = {"face": cfg.face_dim, "voice": cfg.voice_dim, "text": cfg.text_dim}
        inputs, masks = {}, {}
        for m in MODALITIES:
            items = [e for _, e in self._history[m] if e.shape[-1] == dims[m]]
            if m == "text":
                items = items[-1:]
            if items:
                inputs[m] = torch.from_numpy(np.stack(items))[None]
                masks[m] = torch.ones(1, len(items), dtype=torch.bool)
            else:
                inputs[m] = torch.zeros(1, 1, dims[m])
                masks[m] = torch.zeros(1, 1, dtype=torch.bool)
        with torch.no_grad():
            out = self.net(inputs, masks)
        emotion = torch.softmax(out["emotion"][0], -1).numpy().astype(np.float64)
        sentiment = torch.softmax(out["sentiment"][0], -1).numpy().astype(np.float64)
        valence, arousal = (float(v) for v in out["valence_arousal"][0])
        share = trust / trust.sum()
        return emotion, sentiment, valence, arousal, share


def make_fuser(kind: str, directory: Path | None, smoothing_s: float, reliability: bool = False) -> Fuser:
    """``late`` (default, works from the per-modality models alone) or ``crossmodal`` (needs a trained folder);
    ``reliability``: the late fusion discounts channels unlike training or disagreeing (fusion.reliability)."""
    if kind == "late":
        return Fuser.from_dir(directory, smoothing_s=smoothing_s, reliability=ReliabilityPolicy(enabled=reliability))
    if kind == "crossmodal":
        return CrossModalFuser.from_dir(directory, smoothing_s=smoothing_s)
    raise ModelError(f"unknown fusion {kind!r}: use 'late' or 'crossmodal'")


def fuser_for(inference) -> Fuser:
    """The fuser an ``InferenceConfig`` asks for (kind, model folder, smoothing)."""
    folder = Path(inference.fusion_model).expanduser() if inference.fusion_model else None
    return make_fuser(inference.fusion, folder, inference.smoothing_s,
                      bool(getattr(inference, "fusion_reliability", False)))
