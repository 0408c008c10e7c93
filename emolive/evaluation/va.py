"""Evaluate the text model's valence and arousal on a CSV with ``text,V,A`` columns (ratings 1-5, EmoBank's
format): concordance correlation (CCC), Pearson r and RMSE on the 0-1 scale."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from emolive.core.errors import ModelError
from emolive.text.channel import TextChannel
from emolive.text.data import DataError, load_va_csv

log = logging.getLogger(__name__)


def ccc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Lin's concordance correlation coefficient (population moments); 0 when both sides are constant."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    denominator = t.var() + p.var() + (t.mean() - p.mean()) ** 2
    if denominator <= 0:
        return 0.0
    return float(2.0 * np.mean((t - t.mean()) * (p - p.mean())) / denominator)


def pearson(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Pearson r (scipy); 0 when either side is constant."""
    from scipy.stats import pearsonr

    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if len(t) < 2 or np.ptp(t) == 0 or np.ptp(p) == 0:
        return 0.0
    return float(pearsonr(t, p).statistic)


def va_report(true_va: np.ndarray, pred_va: np.ndarray) -> dict[str, Any]:
    """Metrics of [N, 2] (valence, arousal) predictions against targets, both on the 0-1 scale."""
    from sklearn.metrics import root_mean_squared_error

    t = np.asarray(true_va, dtype=np.float64).reshape(-1, 2)
    p = np.asarray(pred_va, dtype=np.float64).reshape(-1, 2)
    out: dict[str, Any] = {"n": int(len(t))}
    for i, name in enumerate(("valence", "arousal")):
        out[f"{name}_ccc"] = ccc(t[:, i], p[:, i])
        out[f"{name}_r"] = pearson(t[:, i], p[:, i])
        out[f"{name}_rmse"] = float(root_mean_squared_error(t[:, i], p[:, i])) if len(t) else 0.0
    return out


def format_va_report(report: dict[str, Any], title: str = "") -> str:
    lines = [title] if title else []
    lines.append(f"samples: {report['n']}")
    lines.append(f"{'':8}{'CCC':>8}{'r':>8}{'RMSE':>8}")
    for name in ("valence", "arousal"):
        lines.append(f"{name:8}{report[name + '_ccc']:8.4f}{report[name + '_r']:8.4f}{report[name + '_rmse']:8.4f}")
    return "\n".join(lines)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="CSV with text,V,A columns (ratings 1-5)")
    parser.add_argument("--split", default=None,
                        help="keep only rows whose 'split' column has this value (e.g. dev in EmoBank's file)")
    parser.add_argument("--model", type=Path, default=None, help="text model folder (default: assets/text)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")


def run(args: argparse.Namespace) -> int:
    from emolive.text.model import rating_to_unit

    every = load_va_csv(args.data, split=args.split)
    rows = [r for r in every if r.text]
    if len(rows) < len(every):
        log.warning("%d row(s) with empty text left out", len(every) - len(rows))
    if len(rows) < 2:
        raise DataError(f"{args.data}: fewer than 2 rows with text, nothing to correlate")
    channel = TextChannel(args.model, threads=args.threads)
    if not channel.has_va:
        raise ModelError(f"the text model in {channel.model_dir} has no valence/arousal head")
    pred = channel.predict_va([r.text for r in rows])
    true = rating_to_unit(np.array([[r.valence, r.arousal] for r in rows]))
    report = va_report(true, pred)
    if args.json:
        print(json.dumps(report))
    else:
        print(format_va_report(report, f"valence/arousal ({args.data}{', split ' + args.split if args.split else ''})"))
    return 0
