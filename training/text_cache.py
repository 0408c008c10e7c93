"""Encode texts once with the frozen sentence encoder and keep the embeddings on disk."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def cached_embeddings(texts: Sequence[str], encode: Callable[[list[str]], np.ndarray], cache_dir: Path,
                      tag: str = "minilm") -> np.ndarray:
    """Embeddings of ``texts`` [N, D], each distinct text encoded once and cached in ``cache_dir``.

    The cache file is named by a hash of ``tag`` and the sorted distinct texts, so another corpus or
    encoder gets its own file.
    """
    unique = sorted(set(texts))
    digest = hashlib.sha256(("\x00".join([tag, *unique])).encode("utf-8")).hexdigest()[:20]
    path = Path(cache_dir) / f"text_{tag}_{digest}.npy"
    if path.is_file():
        table = np.load(path)
        log.info("embeddings of %d texts read from %s", len(unique), path)
    else:
        log.info("encoding %d distinct texts (cached to %s)", len(unique), path)
        table = np.asarray(encode(unique), dtype=np.float32)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, table)
        tmp.replace(path)
    index = {t: i for i, t in enumerate(unique)}
    return table[[index[t] for t in texts]] if len(texts) else table[:0]
