"""Interpolate two face models of the same architecture in weight space (a fine-tuned model and the model it
started from): `python -m training.face_soup --base assets/face --tuned OUT --alpha 0.5 --out SOUP`.

Every floating-point tensor (weights and BatchNorm statistics) becomes ``(1 - alpha) x base + alpha x tuned``,
and so do the config's ``logit_bias``, ``class_prior`` and temperatures; the rest of the config is the tuned
model's. Fine-tuning from a model and averaging back towards it keeps more of what the base model did well on its
own data while keeping much of what the fine-tuning added (Wortsman et al., "Robust fine-tuning of zero-shot
models", 2022). The result has the same architecture, so the per-face cost is unchanged.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emolive.core.errors import EmoliveError
from emolive.models.io import load_config

INTERPOLATED_KEYS = ("logit_bias", "class_prior", "temperature", "temperature_single")
SAME_KEYS = ("arch", "widths", "convs_per_stage", "embedding_dim", "input_size", "crop_size", "mean", "std", "labels")


def interpolate_configs(base: dict[str, Any], tuned: dict[str, Any], alpha: float) -> dict[str, Any]:
    """The tuned config with the interpolated keys mixed; an error when the two models differ in shape."""
    for key in SAME_KEYS:
        if base.get(key) != tuned.get(key):
            raise EmoliveError(f"the two face models differ in {key!r} ({base.get(key)} vs {tuned.get(key)})")
    out = dict(tuned)
    for key in INTERPOLATED_KEYS:
        a, b = base.get(key), tuned.get(key)
        if a is None or b is None:
            continue
        if isinstance(a, list):
            out[key] = [round((1 - alpha) * float(x) + alpha * float(y), 5) for x, y in zip(a, b, strict=True)]
        else:
            out[key] = round((1 - alpha) * float(a) + alpha * float(b), 4)
    out["soup"] = {"base": str(base.get("_folder", "")), "tuned": str(tuned.get("_folder", "")), "alpha": alpha}
    out.pop("onnx", None)
    out.pop("onnx_int8", None)
    out.pop("_folder", None)
    return out


def soup(base: Path, tuned: Path, alpha: float, out: Path) -> Path:
    """Write the interpolated model into ``out`` (safetensors + config.json)."""
    from emolive.face.model import build_model
    from emolive.models.io import load_into, save_model

    if not 0.0 <= alpha <= 1.0:
        raise EmoliveError(f"--alpha must lie in 0..1 (got {alpha})")
    base_config, tuned_config = load_config(base), load_config(tuned)
    config = interpolate_configs({**base_config, "_folder": base}, {**tuned_config, "_folder": tuned}, alpha)
    a = load_into(build_model(base_config), base).state_dict()
    b = load_into(build_model(tuned_config), tuned).state_dict()
    mixed = {k: ((1 - alpha) * a[k] + alpha * b[k]) if b[k].is_floating_point() else b[k] for k in b}
    model = build_model(config)
    model.load_state_dict(mixed)
    return save_model(model.eval(), config, out)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.face_soup", description=__doc__)
    p.add_argument("--base", type=Path, required=True, help="the model fine-tuning started from")
    p.add_argument("--tuned", type=Path, required=True, help="the fine-tuned model")
    p.add_argument("--alpha", type=float, nargs="+", required=True, help="share of the tuned model (one or more)")
    p.add_argument("--out", type=Path, required=True, help="output folder (OUT-aALPHA with several alphas)")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        for alpha in args.alpha:
            out = args.out if len(args.alpha) == 1 else args.out.with_name(f"{args.out.name}-a{alpha:g}")
            print(f"alpha {alpha:g}: {soup(args.base, args.tuned, alpha, out)}")
    except (EmoliveError, OSError) as exc:
        print(f"face_soup: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
