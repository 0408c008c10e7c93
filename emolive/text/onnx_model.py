"""The exported text model in ONNX Runtime: tokenised by the ``tokenizers`` package, no torch or transformers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emolive.core.errors import ModelError
from emolive.models.io import WEIGHTS_NAME
from emolive.models.onnxrt import external_weights, open_session
from emolive.text.encoder import EMBED_DIM, packaged_encoder_path

log = logging.getLogger(__name__)

OUTPUTS = ("embedding", "emotion_logits", "sentiment_logits", "va")


class OnnxTextModel:
    """Texts -> (embedding [N, 384], emotion logits [N, 7], sentiment logits [N, 3], valence/arousal [N, 2]).

    The graph (``python -m training export``) holds the encoder with its fine-tuned top layers, the heads and
    the V/A branch; its weights come from the folder's safetensors and the packaged encoder's. Texts are
    tokenised as the torch path does (the same ``tokenizer.json``, truncated to ``max_length`` tokens) and run
    in length-sorted batches so that padding stays short.
    """

    def __init__(self, path: Path, config: dict[str, Any], model_dir: Path, threads: int = 1, device: str = "cpu",
                 max_length: int = 128, batch_size: int = 32) -> None:
        from tokenizers import Tokenizer

        encoder_dir = packaged_encoder_path()
        try:
            self.tokenizer = Tokenizer.from_file(str(encoder_dir / "tokenizer.json"))
        except Exception as exc:  # tokenizers raises its own exception type for a broken file
            raise ModelError(f"cannot read the text encoder's tokenizer in {encoder_dir}: {exc}") from exc
        self.tokenizer.enable_truncation(max_length=max_length)
        self.tokenizer.no_padding()
        self.batch_size = batch_size
        weights = external_weights(config, {"weights": Path(model_dir) / WEIGHTS_NAME,
                                            "encoder": encoder_dir / WEIGHTS_NAME})
        self.session = open_session(path, threads=threads, device=device, weights=weights)
        names = {o.name for o in self.session.get_outputs()}
        if not set(OUTPUTS) <= names:
            raise ModelError(f"{path} is not an exported text model (outputs {sorted(names)})")

    def tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(input_ids, attention_mask) int64 [N, T], right-padded with id 0 as the BERT tokenizer pads."""
        encodings = self.tokenizer.encode_batch(list(texts))
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for i, encoding in enumerate(encodings):
            ids[i, :len(encoding.ids)] = encoding.ids
            mask[i, :len(encoding.ids)] = 1
        return ids, mask

    def run(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The four outputs for ``texts`` (already normalised, non-empty), in the order given."""
        n = len(texts)
        out = [np.zeros((n, EMBED_DIM), np.float32), np.zeros((n, 7), np.float32), np.zeros((n, 3), np.float32),
               np.zeros((n, 2), np.float32)]
        order = np.argsort([len(t) for t in texts], kind="stable")
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            ids, mask = self.tokenize([texts[i] for i in idx])
            results = self.session.run(list(OUTPUTS), {"input_ids": ids, "attention_mask": mask})
            for target, result in zip(out, results, strict=True):
                if target.shape[1] != result.shape[1]:
                    raise ModelError(f"the exported text model gives {result.shape[1]} values where "
                                     f"{target.shape[1]} are expected")
                target[idx] = result
        return out[0], out[1], out[2], out[3]
