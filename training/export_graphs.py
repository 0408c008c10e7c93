"""The graphs `python -m training export` writes: one function per model kind, each checked against torch."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from emolive.modelio import WEIGHTS_NAME
from training.export import OPSET, check_session, externalise


class _FaceGraph(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.forward_both(x)


def _export(module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str],
            dynamic: dict[str, dict[int, str]]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(module.eval(), args, str(path), input_names=inputs, output_names=outputs,
                          dynamic_axes=dynamic, opset_version=OPSET, dynamo=False,
                          do_constant_folding=False)  # weights stay as they are in the safetensors


def export_face(model_dir: Path, config: dict[str, Any], path: Path) -> tuple[dict[str, float], dict[str, list]]:
    """The face CNN: x (N, 1, S, S) normalised grey crops -> logits (N, C), embedding (N, E)."""
    from emolive.face.config import DEFAULT_CONFIG
    from emolive.face.model import build_model
    from emolive.modelio import load_into

    cfg = {**DEFAULT_CONFIG, **config}
    model = load_into(build_model(cfg), model_dir)
    size = int(cfg["input_size"])
    batch = {"x": {0: "n"}, "logits": {0: "n"}, "embedding": {0: "n"}}
    _export(_FaceGraph(model), (torch.zeros(2, 1, size, size),), path, ["x"], ["logits", "embedding"], batch)
    sources = {"weights": Path(model_dir) / WEIGHTS_NAME}
    table = externalise(path, sources)
    x = np.random.default_rng(0).normal(size=(5, 1, size, size)).astype(np.float32)
    with torch.inference_mode():
        logits, emb = model.forward_both(torch.from_numpy(x))
    return check_session(path, table, sources, {"x": x}, {"logits": logits.numpy(), "embedding": emb.numpy()}), table


class _TextGraph(nn.Module):
    """Token ids -> the sentence embedding, both heads' logits and (valence, arousal), as the torch path."""

    def __init__(self, encoder: nn.Module, head: nn.Module, branch: nn.Module) -> None:
        super().__init__()
        self.bert, self.head, self.branch = encoder, head, branch

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        from emolive.text.encoder import mean_pool

        out = self.bert(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        embedding = nn.functional.normalize(mean_pool(out.last_hidden_state, attention_mask), dim=-1)
        emotion, sentiment = self.head(embedding)
        va = self.branch(out.hidden_states[-1 - len(self.branch.layers)], attention_mask)
        return embedding, emotion, sentiment, va


TEXT_OUTPUTS = ["embedding", "emotion_logits", "sentiment_logits", "va"]
_TEXT_PROBES = ["ok", "I can't believe they cancelled it again, that's outrageous!",
                "Kids are talking by the door.", "Oh wow, thank you so much, this is wonderful news."]


def export_text(model_dir: Path, config: dict[str, Any], path: Path) -> tuple[dict[str, float], dict[str, list]]:
    """The text model with fine-tuned layers and a V/A branch (context-free heads), from token ids."""
    from emolive.errors import ModelError
    from emolive.text.channel import TextChannel
    from emolive.text.encoder import packaged_encoder_path

    channel = TextChannel(model_dir, runtime="torch")
    if channel.va_branch is None or channel.n_context > 0:
        raise ModelError(f"{model_dir}: only fine-tuned text models with a V/A branch and no context are exported")
    graph = _TextGraph(channel.encoder.model, channel.head, channel.va_branch).eval()
    sample = channel.encoder.tokenize(_TEXT_PROBES[:2])
    dynamic = {"input_ids": {0: "n", 1: "t"}, "attention_mask": {0: "n", 1: "t"},
               **{name: {0: "n"} for name in TEXT_OUTPUTS}}
    _export(graph, (sample["input_ids"], sample["attention_mask"]), path, ["input_ids", "attention_mask"],
            TEXT_OUTPUTS, dynamic)
    sources = {"weights": Path(model_dir) / WEIGHTS_NAME, "encoder": packaged_encoder_path() / "model.safetensors"}
    table = externalise(path, sources)
    batch = channel.encoder.tokenize(_TEXT_PROBES)  # padded rows of different lengths
    with torch.inference_mode():
        expected = dict(zip(TEXT_OUTPUTS, (t.numpy() for t in graph(batch["input_ids"], batch["attention_mask"])),
                            strict=True))
    feeds = {"input_ids": batch["input_ids"].numpy(), "attention_mask": batch["attention_mask"].numpy()}
    return check_session(path, table, sources, feeds, expected), table
