"""The Whisper-embedding voice heads in numpy: the run time's twin of ``whisper_embed.EmbeddingHead`` (torch).

Two linear layers (emotion logits, arousal clamped to [0, 1]) read straight from the model folder's safetensors:
the same parameters the torch module trains, so nothing needs exporting.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emolive.core.errors import ModelError
from emolive.models.io import load_arrays

EMBEDDING_NORMS = ("none", "l2", "zscore")


def normalise_embedding(x, norm: str = "none"):  # noqa: ANN001, ANN201 - numpy arrays or torch tensors
    """Per-utterance normalisation of embeddings ``[..., D]``: ``l2`` divides each by its length, ``zscore``
    centres and scales each over its own dimensions; ``none`` leaves them."""
    if norm == "none":
        return x
    if norm == "l2":
        length = (x ** 2).sum(-1, keepdims=True) ** 0.5
        return x / (length + 1e-8)
    if norm == "zscore":
        centred = x - x.mean(-1, keepdims=True)
        return centred / (((centred ** 2).mean(-1, keepdims=True)) ** 0.5 + 1e-8)
    raise ValueError(f"unknown embedding normalisation {norm!r} (one of {', '.join(EMBEDDING_NORMS)})")


def head_input(embedding: np.ndarray, prosody: np.ndarray | None, norm: str, prosody_dim: int) -> np.ndarray:
    """A voice head's input ``[..., D + prosody_dim]``: the embedding after its per-utterance ``norm``, then the
    prosodic statistics when the head uses them (shared by this numpy head and the trainable torch one)."""
    x = normalise_embedding(np.asarray(embedding, dtype=np.float32), norm)
    if prosody_dim:
        if prosody is None or prosody.shape[-1] != prosody_dim:
            raise ModelError(f"this voice head needs {prosody_dim} prosodic features")
        x = np.concatenate([x, np.asarray(prosody, dtype=np.float32)], axis=-1)
    return x.astype(np.float32)


class LinearHeads:
    """Emotion logits and arousal from the head's input features, in numpy.

    ``prepare`` builds that input as the torch module does: the embedding after its per-utterance ``norm``,
    then the prosodic statistics when the model uses them (``prosody_dim`` > 0). ``norm_mean``/``norm_var``
    (None unless the model standardises by running statistics) are the running normalisation's start and
    ``norm_basis`` its voice/room directions (mode "voice", emolive.voice.norm).
    """

    def __init__(self, model_dir: Path, in_dim: int, n_classes: int, norm: str = "none", prosody_dim: int = 0,
                 running: bool = False, norm_rank: int = 0) -> None:
        if norm not in EMBEDDING_NORMS:
            raise ModelError(f"unknown embedding normalisation {norm!r}")
        self.norm, self.prosody_dim = norm, int(prosody_dim)
        state = load_arrays(model_dir)
        width = in_dim + self.prosody_dim
        expected = {"emotion.weight": (n_classes, width), "emotion.bias": (n_classes,),
                    "arousal.weight": (1, width), "arousal.bias": (1,)}
        if running:
            expected |= {"norm_mean": (width,), "norm_var": (width,)}
            if norm_rank:
                expected |= {"norm_left": (width, norm_rank), "norm_right": (width, norm_rank)}
        for key, shape in expected.items():
            if key not in state or tuple(state[key].shape) != shape:
                found = tuple(state[key].shape) if key in state else "missing"
                raise ModelError(f"the weights in {model_dir} do not fit its config.json ({key}: {found}, "
                                 f"expected {shape})")
        self.w_emotion = state["emotion.weight"].astype(np.float32)
        self.b_emotion = state["emotion.bias"].astype(np.float32)
        self.w_arousal = state["arousal.weight"].astype(np.float32)
        self.b_arousal = state["arousal.bias"].astype(np.float32)
        self.norm_mean = state["norm_mean"].astype(np.float32) if running else None
        self.norm_var = state["norm_var"].astype(np.float32) if running else None
        self.norm_basis = ((state["norm_left"].astype(np.float32), state["norm_right"].astype(np.float32))
                           if running and norm_rank else None)

    def prepare(self, embedding: np.ndarray, prosody: np.ndarray | None = None) -> np.ndarray:
        """Head input ``[..., in_dim + prosody_dim]`` from an embedding (and prosody when the head uses it)."""
        return head_input(embedding, prosody, self.norm, self.prosody_dim)

    def __call__(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(emotion logits [N, C], arousal [N]) of features [N, D]."""
        x = np.asarray(features, dtype=np.float32)
        logits = x @ self.w_emotion.T + self.b_emotion
        arousal = np.clip((x @ self.w_arousal.T + self.b_arousal)[..., 0], 0.0, 1.0)
        return logits, arousal
