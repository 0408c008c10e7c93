"""ONNX Runtime sessions for the exported models: the torch-free inference path.

A model folder may hold ``model.onnx`` beside its safetensors weights (written by ``python -m training export``).
The file is the graph only: its weights are read from the safetensors files when the session opens, so the
weights exist once on disk and an ONNX file can never run with other weights than the torch model.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emolive.core.errors import ModelError

if TYPE_CHECKING:  # pragma: no cover
    import onnxruntime

log = logging.getLogger(__name__)

ONNX_NAME = "model.onnx"
STORED_TYPES = ("float16", "float32")  # types an exported graph may keep a safetensors tensor in


def onnx_file(model_dir: Path, config: Mapping[str, Any]) -> Path | None:
    """The folder's exported graph (``model.onnx``) when there is one, else None."""
    path = Path(model_dir) / str((config.get("onnx") or {}).get("file", ONNX_NAME))
    return path if path.is_file() and config.get("onnx") else None


def external_weights(config: Mapping[str, Any], sources: Mapping[str, Path]) -> dict[str, np.ndarray]:
    """The arrays an exported graph leaves out, read from their safetensors files.

    The export stores only the graph: config.json's ``onnx.weights`` maps each of its initialisers to a
    (source, key, shape) triple, where the source is one of ``sources`` (e.g. "weights": the folder's
    model.safetensors, "encoder": the packaged text encoder's). A fourth item names the type the graph keeps the
    tensor in when it differs from the file's (``STORED_TYPES``: "float16" for a lookup table the graph reads
    through a Gather and a Cast, half the memory). A missing key, another shape or an unknown type is a ModelError.
    """
    from safetensors import SafetensorError, safe_open

    table = (config.get("onnx") or {}).get("weights") or {}
    wanted: dict[str, list[tuple[str, str, list[int], str]]] = {}
    for name, (source, key, shape, *stored) in table.items():
        dtype = str(stored[0]) if stored else ""
        if dtype and dtype not in STORED_TYPES:
            raise ModelError(f"the exported graph keeps {name!r} as {dtype!r}, which this version cannot read "
                             f"(one of {', '.join(STORED_TYPES)})")
        wanted.setdefault(source, []).append((name, key, list(shape), dtype))
    out: dict[str, np.ndarray] = {}
    for source, items in wanted.items():
        if source not in sources:
            raise ModelError(f"the exported graph needs weights from {source!r}, which is not available")
        try:
            with safe_open(str(sources[source]), framework="numpy") as handle:
                present = set(handle.keys())
                for name, key, shape, dtype in items:
                    if key not in present:
                        raise ModelError(f"{sources[source]} has no tensor {key!r} that the exported graph needs; "
                                         "re-export with `python -m training export`")
                    array = handle.get_tensor(key)
                    if list(array.shape) != shape:
                        raise ModelError(f"{sources[source]}: {key!r} has shape {list(array.shape)}, the exported "
                                         f"graph expects {shape}; re-export with `python -m training export`")
                    out[name] = array.astype(dtype, copy=False) if dtype else array  # the file's copy is dropped
        except (SafetensorError, OSError) as exc:
            raise ModelError(f"cannot read the weights {sources[source]}: {exc}") from exc
    return out


def providers(device: str = "cpu") -> list[str]:
    """Execution providers for ``device``: CUDA first when asked for ("cuda"/"auto") and installed, then CPU."""
    import onnxruntime as ort

    wanted = (device or "cpu").lower()
    if wanted.startswith("cuda") or wanted == "auto":
        if "CUDAExecutionProvider" in ort.get_available_providers():
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        if wanted != "auto":
            log.warning("CUDA requested but onnxruntime has no CUDA provider (pip install 'emolive[gpu]'): "
                        "running on the CPU")
    return ["CPUExecutionProvider"]


def cuda_usable() -> bool:
    """Whether onnxruntime can run on a GPU here (onnxruntime-gpu installed)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return "CUDAExecutionProvider" in ort.get_available_providers()


def open_session(path: Path, threads: int = 1, device: str = "cpu",
                 weights: Mapping[str, np.ndarray] | None = None) -> onnxruntime.InferenceSession:
    """An inference session on ``path`` with ``threads`` intra-op threads (one inter-op thread).

    ``weights`` supplies the initialisers the file stores as external data (see ``external_weights``).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if weights:
        names = list(weights)
        values = [ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(weights[n])) for n in names]
        options.add_external_initializers(names, values)
    try:
        return ort.InferenceSession(str(path), options, providers=providers(device))
    except Exception as exc:  # onnxruntime raises its own exception types for broken or mismatched files
        raise ModelError(f"cannot load the ONNX model {path}: {' '.join(str(exc).split())[:300]}") from exc
