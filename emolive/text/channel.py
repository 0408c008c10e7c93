"""TextChannel: transcript text (plus the preceding segments) -> emotion and sentiment probabilities."""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emolive.contracts import ModalityOutput, frozen_array
from emolive.errors import ModelError
from emolive.text.normalize import normalize_text

log = logging.getLogger(__name__)

_CACHE_SIZE = 512


class _LRU(OrderedDict):
    """A small least-recently-used dictionary."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def get_or(self, key, make):
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = make()
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)
        return value


class TextChannel:
    """Emotion (labels.EMOTIONS) and sentiment (labels.SENTIMENTS) of an utterance.

    Loads the heads from ``model_dir`` (default: the shipped ``assets/text``) and the MiniLM encoder
    from its PyPI package. ``threads`` caps torch's intra-op threads (process-wide). Embeddings are
    cached per text and results per (text, context), so a committed segment is encoded once.
    """

    def __init__(self, model_dir: Path | None = None, threads: int = 1) -> None:
        import torch

        from emolive.assets import default_model_dir
        from emolive.modelio import load_config, load_into
        from emolive.text.encoder import SentenceEncoder
        from emolive.text.model import TextHead

        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir("text")
        config = load_config(self.model_dir)
        try:
            head_cfg = dict(config["head"])
            self.head = TextHead(**head_cfg)
            n_tuned = int(config.get("finetune_layers", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{self.model_dir}/config.json is not a text model config: {exc}") from exc
        if threads > 0:
            torch.set_num_threads(threads)
        self.encoder = SentenceEncoder(threads=threads)
        if self.encoder.dim != self.head.embed_dim:
            raise ModelError(f"encoder width {self.encoder.dim} does not match the heads ({self.head.embed_dim})")
        if n_tuned > 0:
            _load_tuned(self.encoder, self.head, n_tuned, self.model_dir)
        else:
            load_into(self.head, self.model_dir)
        temps = config.get("temperature", {})
        self.t_emotion = float(temps.get("emotion", 1.0))
        self.t_sentiment = float(temps.get("sentiment", 1.0))
        self.n_context = int(head_cfg.get("context", 0))
        self._embeddings: _LRU = _LRU(_CACHE_SIZE)
        self._results: _LRU = _LRU(_CACHE_SIZE)

    def process(self, text: str, t: float, context: Sequence[str] = ()) -> ModalityOutput:
        """Judge ``text`` (with the preceding segments ``context``, oldest first) at session time ``t``."""
        started = time.perf_counter()
        clean = normalize_text(text or "")
        if not clean:
            return ModalityOutput(modality="text", t=t, present=False, reason="no text")
        ctx = self._context_key(context)
        emotion, sentiment, embedding = self._results.get_or((clean, ctx), lambda: self._judge(clean, ctx))
        return ModalityOutput(
            modality="text", t=t, present=True, emotion=tuple(float(p) for p in emotion),
            sentiment=tuple(float(p) for p in sentiment), quality=confidence(emotion), embedding=embedding,
            latency_ms=(time.perf_counter() - started) * 1000.0,
        )

    def predict_batch(self, texts: Sequence[str], contexts: Sequence[Sequence[str]] | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated probabilities, emotion [N, 7] and sentiment [N, 3]; empty texts get uniform rows.

        ``contexts`` optionally gives each text's preceding utterances (oldest first).
        """
        clean = [normalize_text(t or "") for t in texts]
        ctx_keys = [self._context_key(c) for c in contexts] if contexts is not None else [() for _ in clean]
        wanted = {t for t in clean if t} | {c for key in ctx_keys for c in key}
        vectors = self._vectors(sorted(wanted))
        keep = [i for i, t in enumerate(clean) if t]
        emotion = np.full((len(clean), self.head.emotion.out_features), 1.0 / self.head.emotion.out_features)
        sentiment = np.full((len(clean), self.head.sentiment.out_features), 1.0 / self.head.sentiment.out_features)
        if keep:
            e, s = self._heads([clean[i] for i in keep], [ctx_keys[i] for i in keep], vectors)
            emotion[keep], sentiment[keep] = e, s
        return emotion, sentiment

    def _context_key(self, context: Sequence[str]) -> tuple[str, ...]:
        if self.n_context <= 0:
            return ()
        clean = [normalize_text(c or "") for c in context]
        return tuple(c for c in clean if c)[-self.n_context:]

    def _vectors(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Embeddings of ``texts``: cached ones reused, the rest encoded in one batch and cached."""
        out = {t: self._embeddings[t] for t in texts if t in self._embeddings}
        missing = [t for t in texts if t not in out]
        if missing:
            for text, vec in zip(missing, self.encoder.encode(missing), strict=True):
                out[text] = self._embeddings.get_or(text, lambda v=vec: frozen_array(v))
        return out

    def _heads(self, texts: Sequence[str], contexts: Sequence[tuple[str, ...]], vectors: dict[str, np.ndarray]
               ) -> tuple[np.ndarray, np.ndarray]:
        import torch

        from emolive.text.model import build_features, calibrated_probs

        current = np.stack([vectors[t] for t in texts])
        ctx = [np.stack([vectors[c] for c in key]) if key else np.zeros((0, current.shape[1]), np.float32)
               for key in contexts]
        features = torch.from_numpy(build_features(current, ctx, self.n_context))
        with torch.inference_mode():
            e_logits, s_logits = self.head(features)
        return calibrated_probs(e_logits, self.t_emotion), calibrated_probs(s_logits, self.t_sentiment)

    def _judge(self, text: str, context: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        vectors = self._vectors([text, *context])
        emotion, sentiment = self._heads([text], [context], vectors)
        return emotion[0], sentiment[0], vectors[text]


def _load_tuned(encoder, head, n_tuned: int, model_dir: Path) -> None:
    """Load fine-tuned top layers + heads and put the layers into ``encoder`` in place of its own."""
    import copy

    from emolive.modelio import load_into
    from emolive.text.model import TunedTextModel

    layers = encoder.model.encoder.layer
    if not 0 < n_tuned <= len(layers):
        raise ModelError(f"{model_dir}: cannot replace {n_tuned} of the encoder's {len(layers)} layers")
    tuned = TunedTextModel([copy.deepcopy(layer) for layer in layers[len(layers) - n_tuned:]], head)
    load_into(tuned, model_dir)
    for i, layer in enumerate(tuned.layers):
        layers[len(layers) - n_tuned + i] = layer
    encoder.model.eval()


def confidence(probs: np.ndarray) -> float:
    """1 minus the normalised entropy of a distribution: 0 for uniform, 1 for one-hot."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)
    return float(np.clip(1.0 - float(-(p * np.log(p)).sum()) / math.log(len(p)), 0.0, 1.0))
