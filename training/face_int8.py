"""Write a face model folder's int8 graph (``model.int8.onnx``) from its exported float32 graph:

    python -m training.face_int8 assets/face --calibration ../shared/data/fer2013/train

Static int8 quantisation by ONNX Runtime (QDQ, int8 weights per output channel, uint8 activations) calibrated on
``--n`` seeded training crops and their mirror images, whose activation ranges are the ``--percentile`` of what
they reach. The first convolution and the two fully connected layers stay float32: quantising every layer with
plain min/max ranges lost 7 points of FER2013 val accuracy (docs/experiments/2026-12-07-offline-packing-and-int8.md).
config.json's ``onnx_int8`` records the sha256 of the weights it was made from, so the app uses the file only
while the folder's weights are those (``emolive.models.quantised``). Score it against float32 with
``emolive eval face --data VAL --crops`` and the same with ``--float``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from emolive.core.errors import EmoliveError, ModelError
from emolive.models.io import WEIGHTS_NAME, load_config, save_config, sha256_file
from emolive.models.onnxrt import external_weights, onnx_file
from emolive.models.quantised import INT8_KEY, INT8_NAME

log = logging.getLogger(__name__)

def calibration_images(folder: Path, n: int, seed: int) -> list[Path]:
    """``n`` images drawn (seeded) from ``folder``'s class subfolders (``face.folder.list_image_folder``'s order)."""
    from emolive.face.folder import list_image_folder

    files = [path for path, _ in list_image_folder(Path(folder))[0]]
    pick = np.random.default_rng(seed).choice(len(files), min(n, len(files)), replace=False)
    return [files[i] for i in sorted(pick)]


def float_graph(model_dir: Path, out: Path) -> None:
    """The folder's exported graph with its safetensors weights put inside it (what the quantiser reads)."""
    import onnx
    from onnx import numpy_helper

    config = load_config(model_dir)
    path = onnx_file(model_dir, config)
    if path is None:
        raise ModelError(f"{model_dir} has no ONNX export: run `python -m training export {model_dir}` first")
    model = onnx.load(str(path), load_external_data=False)
    weights = external_weights(config, {"weights": Path(model_dir) / WEIGHTS_NAME})
    kept = [init for init in model.graph.initializer if init.name not in weights]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    model.graph.initializer.extend(numpy_helper.from_array(np.ascontiguousarray(a), n) for n, a in weights.items())
    onnx.save(model, str(out))


def quantise(model_dir: Path, calibration: Path, n: int = 512, seed: int = 0, percentile: float = 99.99,
             batch: int = 16) -> Path:
    """Write ``model_dir/model.int8.onnx`` and its config.json entry; returns the file."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process
    from PIL import Image

    from emolive.face.predictor import ExpressionPredictor

    model_dir = Path(model_dir)
    predictor = ExpressionPredictor(model_dir, int8=False)
    files = calibration_images(calibration, n, seed)
    crops = np.stack([np.asarray(Image.open(f).convert("L")) for f in files])
    x = predictor.to_input(crops)
    x = np.ascontiguousarray(np.concatenate([x, x[:, :, :, ::-1]]))  # the live path scores mirror images too

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches: Iterator[np.ndarray] = iter(np.array_split(x, max(1, len(x) // batch)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            chunk = next(self._batches, None)
            return None if chunk is None else {"x": np.ascontiguousarray(chunk)}

    with tempfile.TemporaryDirectory() as tmp:
        full, pre = Path(tmp) / "float.onnx", Path(tmp) / "pre.onnx"
        float_graph(model_dir, full)
        quant_pre_process(str(full), str(pre))
        graph = onnx.load(str(pre))
        convs = [node.name for node in graph.graph.node if node.op_type == "Conv"]
        dense = [node.name for node in graph.graph.node if node.op_type in ("Gemm", "MatMul")]
        fd, out_name = tempfile.mkstemp(suffix=".onnx", dir=model_dir)
        os.close(fd)
        out = Path(out_name)
        try:
            quantize_static(str(pre), str(out), Batches(), quant_format=QuantFormat.QDQ, per_channel=True,
                            weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                            calibrate_method=CalibrationMethod.Percentile, nodes_to_exclude=[convs[0], *dense],
                            extra_options={"CalibPercentile": percentile})
            out.chmod(0o644)
            out.replace(model_dir / INT8_NAME)
        finally:
            out.unlink(missing_ok=True)
    config = load_config(model_dir)
    config[INT8_KEY] = {
        "file": INT8_NAME,
        "weights_sha256": sha256_file(model_dir / WEIGHTS_NAME),
        "calibration": {"images": len(files), "mirrored": True, "seed": seed,
                        "from": "/".join(Path(calibration).resolve().parts[-2:]),
                        "method": f"percentile {percentile:g}", "per_channel": True},
        "float32_layers": [convs[0], *dense],
    }
    save_config(config, model_dir)
    return model_dir / INT8_NAME


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.face_int8", description=__doc__.split("\n")[0])
    parser.add_argument("model_dir", type=Path, help="face model folder with model.onnx (python -m training export)")
    parser.add_argument("--calibration", type=Path, required=True, help="training image folder (class subfolders)")
    parser.add_argument("--n", type=int, default=512, help="calibration images (each also mirrored)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--percentile", type=float, default=99.99, help="activation range: this percentile")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        path = quantise(args.model_dir, args.calibration, args.n, args.seed, args.percentile)
    except (EmoliveError, OSError) as exc:
        print(f"face_int8: error: {exc}", file=sys.stderr)
        return 2
    print(f"{path}: written ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
