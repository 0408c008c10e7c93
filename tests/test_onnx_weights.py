"""Exported graphs read their weights from safetensors: a tensor the graph keeps in float16 (a Gather lookup table,
``training.onnx_graphs.store_half``) is cast as it is read (``emolive.models.onnxrt.external_weights``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emolive.core.errors import ModelError
from emolive.models.onnxrt import external_weights, open_session


@pytest.fixture()
def table_file(tmp_path: Path) -> tuple[Path, np.ndarray]:
    from safetensors.numpy import save_file

    rows = np.random.default_rng(0).normal(size=(50, 6)).astype(np.float32)
    path = tmp_path / "weights.safetensors"
    save_file({"table": rows, "bias": np.arange(6, dtype=np.float32)}, str(path))
    return path, rows


def test_a_tensor_stored_in_float16_is_cast_as_it_is_read(table_file: tuple[Path, np.ndarray]) -> None:
    path, rows = table_file
    config = {"onnx": {"weights": {"t": ["weights", "table", [50, 6], "float16"], "b": ["weights", "bias", [6]]}}}
    out = external_weights(config, {"weights": path})
    assert out["t"].dtype == np.float16 and np.array_equal(out["t"], rows.astype(np.float16))
    assert out["b"].dtype == np.float32  # no fourth item: as the file has it


def test_an_unknown_stored_type_or_shape_is_a_clear_error(table_file: tuple[Path, np.ndarray]) -> None:
    path, _ = table_file
    with pytest.raises(ModelError, match="cannot read"):
        external_weights({"onnx": {"weights": {"t": ["weights", "table", [50, 6], "int4"]}}}, {"weights": path})
    with pytest.raises(ModelError, match="shape"):
        external_weights({"onnx": {"weights": {"t": ["weights", "table", [6, 50], "float16"]}}}, {"weights": path})


def test_store_half_keeps_a_lookup_table_in_float16_and_gives_float32_rows(tmp_path: Path,
                                                                          table_file: tuple[Path, np.ndarray]) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from training.onnx_graphs import externalise, store_half

    path, rows = table_file
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "ids"], ["looked_up"], name="lookup"),
         helper.make_node("Add", ["looked_up", "bias"], ["out"], name="shift")],
        "lookup", [helper.make_tensor_value_info("ids", TensorProto.INT64, [None])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [None, 6])],
        [numpy_helper.from_array(rows, "table"), numpy_helper.from_array(np.arange(6, dtype=np.float32), "bias")])
    model_path = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(model_path))
    table = externalise(model_path, {"weights": path})
    store_half(model_path, table, ("table",))
    assert table["table"] == ["weights", "table", [50, 6], "float16"] and len(table["bias"]) == 3
    session = open_session(model_path, weights=external_weights({"onnx": {"weights": table}}, {"weights": path}))
    ids = np.array([3, 0, 49], dtype=np.int64)
    (out,) = session.run(["out"], {"ids": ids})
    assert out.dtype == np.float32
    assert np.array_equal(out, rows.astype(np.float16).astype(np.float32)[ids] + np.arange(6, dtype=np.float32))
    with pytest.raises(ValueError, match="more than Gather"):
        store_half(model_path, table, ("bias",))  # an Add reads it: it stays float32
