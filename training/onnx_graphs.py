"""The graphs `python -m training export` writes (one function per model kind, each checked against torch) and the
helpers that keep their weights out of the file."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from emolive.models.io import WEIGHTS_NAME
from emolive.models.onnxrt import external_weights, open_session

OPSET = 17


def externalise(path: Path, sources: dict[str, Path]) -> dict[str, list]:
    """Take every initialiser of the graph at ``path`` that equals a tensor of a ``sources`` file out of it.

    Each one becomes external data, found again by (source, key, shape) when the session opens
    (``emolive.models.onnxrt.external_weights``); the graph file keeps only the ops and small constants.
    A tensor matches by name and exact value (dtype, shape, bytes), or by a value no other tensor has.
    """
    import hashlib

    import onnx
    from onnx import numpy_helper
    from safetensors.numpy import load_file

    def fingerprint(array: np.ndarray) -> str:
        array = np.ascontiguousarray(array)
        return hashlib.sha1(f"{array.dtype}{array.shape}".encode() + array.tobytes()).hexdigest()

    tensors = {(source, key): array for source, file in sources.items() for key, array in load_file(str(file)).items()}
    by_value: dict[str, list[tuple[str, str]]] = {}
    for ref, array in tensors.items():
        by_value.setdefault(fingerprint(array), []).append(ref)
    model = onnx.load(str(path))
    table: dict[str, list] = {}
    for init in model.graph.initializer:
        array = numpy_helper.to_array(init)
        same = by_value.get(fingerprint(array), [])
        named = [ref for ref in same if init.name == ref[1] or init.name.endswith("." + ref[1])]
        if named:  # the same name (under the export wrapper's prefix) and the same value
            source, key = max(named, key=lambda ref: len(ref[1]))
        elif len(same) == 1:  # renamed (a tuned layer put in the encoder's place): matched by its unique value
            source, key = same[0]
        else:  # a constant of the graph, or a value several tensors share: stays in the file
            continue
        table[init.name] = [source, key, list(array.shape)]
        init.ClearField("raw_data")
        for field in ("float_data", "int64_data", "int32_data", "double_data"):
            init.ClearField(field)
        init.data_location = onnx.TensorProto.EXTERNAL
        del init.external_data[:]
        entry = init.external_data.add()
        entry.key, entry.value = "location", f"{source}.safetensors"
    onnx.save(model, str(path))
    return table


def store_half(path: Path, table: dict[str, list], names: tuple[str, ...]) -> None:
    """Keep the lookup tables ``names`` of the externalised graph at ``path`` in float16 (half their memory in the
    session): each is read only by Gather, whose rows a Cast turns back into float32; ``table`` records the stored
    type for ``emolive.models.onnxrt.external_weights``. Rows differ from the file's by float16 rounding (a
    relative 2^-11), which the caller's check must allow for."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    for name in names:
        inits = [init for init in graph.initializer if init.name == name]
        users = [node for node in graph.node if name in node.input]
        if len(inits) != 1 or name not in table or not users:
            raise ValueError(f"{path}: no externalised initialiser {name!r} to store in float16")
        if any(node.op_type != "Gather" or list(node.input).index(name) != 0 for node in users):
            raise ValueError(f"{path}: {name!r} is read by more than Gather lookups; it stays float32")
        inits[0].data_type = TensorProto.FLOAT16
        for node in users:
            rows = node.output[0]
            node.output[0] = f"{rows}_float16"
            cast = helper.make_node("Cast", [node.output[0]], [rows], to=TensorProto.FLOAT, name=f"{node.name}_float32")
            graph.node.insert(list(graph.node).index(node) + 1, cast)
        table[name] = [*table[name][:3], "float16"]
    onnx.save(model, str(path))


def check_session(path: Path, table: dict[str, list], sources: dict[str, Path], feeds: dict[str, np.ndarray],
                  expected: dict[str, np.ndarray]) -> dict[str, float]:
    """Run the exported graph (weights from ``sources``) on ``feeds``; the largest absolute difference from
    ``expected`` per output."""
    session = open_session(path, threads=1, weights=external_weights({"onnx": {"weights": table}}, sources))
    names = list(expected)
    outputs = session.run(names, feeds)
    return {name: float(np.abs(out - expected[name]).max()) for name, out in zip(names, outputs, strict=True)}


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
    from emolive.models.io import load_into

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
# the word embedding table (30,522 x 384, half of the packaged encoder's weights) is kept in float16: 22-25 MB less
# in the live process and 43-47 MB less while the text channel loads (docs/experiments/2026-12-08-text-table-float16.md)
TEXT_HALF_TABLES = ("bert.embeddings.word_embeddings.weight",)
_TEXT_PROBES = ["ok", "I can't believe they cancelled it again, that's outrageous!",
                "Kids are talking by the door.", "Oh wow, thank you so much, this is wonderful news."]


def export_text(model_dir: Path, config: dict[str, Any], path: Path) -> tuple[dict[str, float], dict[str, list]]:
    """The text model with fine-tuned layers and a V/A branch (context-free heads), from token ids."""
    from emolive.core.errors import ModelError
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
    store_half(path, table, TEXT_HALF_TABLES)
    params = dict(graph.named_parameters())
    with torch.no_grad():  # the check compares with torch reading the same float16-rounded rows
        for name in TEXT_HALF_TABLES:
            params[name].copy_(params[name].half().float())
    batch = channel.encoder.tokenize(_TEXT_PROBES)  # padded rows of different lengths
    with torch.inference_mode():
        expected = dict(zip(TEXT_OUTPUTS, (t.numpy() for t in graph(batch["input_ids"], batch["attention_mask"])),
                            strict=True))
    feeds = {"input_ids": batch["input_ids"].numpy(), "attention_mask": batch["attention_mask"].numpy()}
    return check_session(path, table, sources, feeds, expected), table
