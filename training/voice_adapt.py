"""Adapt a Whisper-embedding voice model to one person's labelled speech (personal fine-tuning).

    python -m training voice --encoder whisper --init assets/voice --data MY_CLIPS --out MY_MODEL

Only the emotion head moves: its weights are pulled towards the starting model (``--prior-strength``), the
arousal head, the temperature and the Whisper encoder stay as they are. The person's clips are split into
adaptation takes and held-back takes: RAVDESS-named clips by repetition (take 1 adapts, take 2 is held back),
other folders per class at random (``--holdout``). The held-back takes score the model before and after.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from emolive.core.errors import EmoliveError
from emolive.core.labels import EMOTIONS
from emolive.evaluation.metrics import classification_report, format_report
from emolive.models.io import WEIGHTS_NAME
from emolive.voice.adapt import load_head, prior_pull
from emolive.voice.data import Clip, parse_ravdess_name
from training.common import FitConfig, fit

log = logging.getLogger(__name__)


def split_takes(clips: list[Clip], holdout: float, seed: int) -> np.ndarray:
    """Boolean mask of the held-back clips."""
    names = [parse_ravdess_name(c.path.name) for c in clips]
    if all(n is not None for n in names):
        return np.array([n.repetition == 2 for n in names])
    rng = np.random.default_rng(seed)
    labels = np.array([c.label for c in clips])
    held = np.zeros(len(clips), dtype=bool)
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        held[idx[: int(round(len(idx) * holdout))]] = True
    return held


def _start_model(folder: Path) -> tuple[Any, dict[str, Any]]:
    if not (folder / WEIGHTS_NAME).is_file():
        raise EmoliveError(f"--init {folder}: no {WEIGHTS_NAME} there")
    loaded = load_head(folder)
    if loaded is None:
        raise EmoliveError(f"--init {folder}: not a Whisper-embedding voice model (only those can be adapted)")
    return loaded


def head_inputs(head: Any, config: dict[str, Any], clips: list[Clip], threads: int) -> np.ndarray:
    """What the head reads for each clip, as the channel would give it: the pooled Whisper embedding, the
    prosodic statistics when the head uses them, and the running normalisation with each speaker's clips as
    one session (seeded order, emolive.voice.norm.session_order)."""
    from emolive.voice.norm import NormSettings, running_standardise
    from emolive.voice.whisper_embed import pooled
    from training.voice_embed import clip_embeddings

    emb = pooled(clip_embeddings(clips, 0, threads), str(config.get("pooling", "mean+std")))
    prosody = clip_embeddings(clips, 0, threads, kind="prosody") if head.prosody_dim else None
    features = head.prepare(emb, prosody)
    if head.running:
        basis = (head.norm_left.numpy(), head.norm_right.numpy()) if head.norm_rank else None
        features = running_standardise(features, np.array([c.speaker for c in clips]), head.norm_mean.numpy(),
                                       head.norm_var.numpy(), NormSettings.from_dict(config["running_norm"]),
                                       basis=basis)
    return features


def adapt(args: argparse.Namespace, clips: list[Clip]) -> int:
    head, config = _start_model(args.init)
    held = split_takes(clips, args.holdout, args.seed)
    if held.all() or not held.any():
        raise EmoliveError(f"{args.data}: need clips on both sides of the adaptation/held-back split "
                           f"({int((~held).sum())} adaptation, {int(held.sum())} held back)")
    x = torch.from_numpy(head_inputs(head, config, clips, args.threads)).float()
    y = torch.tensor([c.label for c in clips], dtype=torch.long)
    mask = torch.from_numpy(held)
    x_held, y_held = x[mask], y[mask]
    print(f"{int((~held).sum())} adaptation clips, {int(held.sum())} held back", flush=True)
    for p in head.arousal.parameters():
        p.requires_grad_(False)
    prior = [p.detach().clone() for p in head.emotion.parameters()]
    strength = args.prior_strength

    def loss_fn(net: torch.nn.Module, batch: Any, device: torch.device) -> torch.Tensor:
        inputs, labels = (b.to(device) for b in batch)
        logits, _ = net(inputs)
        return F.cross_entropy(logits, labels) + strength * prior_pull(head, [q.to(device) for q in prior])

    def evaluate(net: torch.nn.Module) -> dict[str, Any]:
        logits, _ = net(x_held)
        return classification_report(y_held.numpy(), logits.argmax(1).numpy(), EMOTIONS)

    with torch.no_grad():
        before = evaluate(head)
    print(format_report(before, "held-back takes, before"), flush=True)
    cfg = FitConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=0.0,
                    schedule="constant", grad_clip=0.0, patience=args.epochs, monitor="accuracy",
                    class_weights=False, seed=args.seed, threads=args.threads)
    out_config = {**config, "adapted": {"from": str(args.init), "data": str(args.data),
                                        "prior_strength": strength, "clips": len(clips),
                                        "held_back": int(held.sum()), "before": _brief(before)}}
    after = fit(head, TensorDataset(x[~mask], y[~mask]), loss_fn, evaluate, cfg, args.out, out_config,
                resume=not args.no_resume)
    print(format_report(after, "held-back takes, after"), flush=True)
    return 0


def _brief(report: dict[str, Any]) -> dict[str, float]:
    return {k: round(float(report[k]), 4) for k in ("accuracy", "macro_f1", "weighted_f1")}
