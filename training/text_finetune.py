"""Fine-tune the encoder's top layers on CPU: cache the frozen lower layers' token states once, then
train the top layers + heads on batches of equal-length sentences (no padding, so no attention masks)."""

from __future__ import annotations

import copy
import logging
import random
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

log = logging.getLogger(__name__)


def lower_states(encoder, texts: Sequence[str], n_top: int, batch_size: int = 64) -> dict[str, torch.Tensor]:
    """Token states [T, D] of every text after all but the last ``n_top`` encoder layers (frozen)."""
    model = encoder.model
    keep = len(model.encoder.layer) - n_top
    if not 0 <= keep < len(model.encoder.layer):
        raise ValueError(f"cannot tune {n_top} of {len(model.encoder.layer)} layers")
    saved = model.encoder.layer
    out: dict[str, torch.Tensor] = {}
    order = sorted(set(texts), key=len)
    try:
        model.encoder.layer = saved[:keep]
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start:start + batch_size]
                batch = encoder.tokenize(chunk)
                hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
                for text, states, mask in zip(chunk, hidden, batch["attention_mask"], strict=True):
                    out[text] = states[: int(mask.sum())].clone()
    finally:
        model.encoder.layer = saved
    return out


def top_layers(encoder, n_top: int) -> list[torch.nn.Module]:
    """Trainable copies of the encoder's last ``n_top`` layers."""
    return [copy.deepcopy(layer) for layer in encoder.model.encoder.layer[len(encoder.model.encoder.layer) - n_top:]]


class LengthBatches(Dataset):
    """Batches of same-length token-state sequences; each item is (states [B, T, D], emotion, sentiment)."""

    def __init__(self, states: Sequence[torch.Tensor], emotion: np.ndarray, sentiment: np.ndarray,
                 batch_size: int, seed: int = 0) -> None:
        groups: dict[int, list[int]] = defaultdict(list)
        for i, s in enumerate(states):
            groups[int(s.shape[0])].append(i)
        rng = random.Random(seed)
        self.items: list[list[int]] = []
        for idx in groups.values():
            rng.shuffle(idx)
            self.items += [idx[j:j + batch_size] for j in range(0, len(idx), batch_size)]
        self.states, self.emotion, self.sentiment = states, emotion, sentiment

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        idx = self.items[i]
        return (torch.stack([self.states[j] for j in idx]), torch.as_tensor(self.emotion[idx]),
                torch.as_tensor(self.sentiment[idx]))


def unwrap(batch: list) -> tuple[torch.Tensor, ...]:
    """collate_fn for a DataLoader with batch_size=1 over LengthBatches."""
    return batch[0]


def predict(model: torch.nn.Module, dataset: LengthBatches, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits for all ``n`` rows of ``dataset`` in their original order."""
    e_out = torch.zeros(n, model.head.emotion.out_features)
    s_out = torch.zeros(n, model.head.sentiment.out_features)
    model.eval()
    with torch.no_grad():
        for i in range(len(dataset)):
            x, _, _ = dataset[i]
            e, s = model(x)
            e_out[dataset.items[i]], s_out[dataset.items[i]] = e, s
    return e_out, s_out
