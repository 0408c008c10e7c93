"""Fusion check on composite samples: each channel alone, fused, and fused with each modality removed.

A composite pairs a face image and a voice clip with the same emotion label, drawn from separate
single-modality data sets, and some words. ``--text-mode realistic`` (default): most composites carry the
lexically neutral words of their own speech (RAVDESS statements), a minority (``--emotional-share``, 25%)
an emotional MELD utterance of the same label, some (``--none-share``, 15%) none. ``matched``: every
composite carries a MELD utterance of the same label (the old check; it flatters fusion). Either way an
engineering check of the fusion logic, not a claim about real conversations. By default it draws from
the held-out half of each pool (split by speaker/dialogue/image), the half `python -m training fusion`
did not fit on. The rendered clips (`emolive eval clip`) are the realistic benchmark.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from emolive.core.errors import EmoliveError
from emolive.core.labels import EMOTIONS


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--face", type=Path, required=True, help="labelled face crops (image folder)")
    parser.add_argument("--voice", type=Path, required=True, help="labelled speech (RAVDESS tree or class folders)")
    parser.add_argument("--text", type=Path, required=True, help="MELD-format CSV")
    parser.add_argument("--face-model", type=Path, help="face model folder (default: the bundled one)")
    parser.add_argument("--voice-model", type=Path,
                        help="voice model folder (default: the bundled one); it must not have trained on --voice")
    parser.add_argument("--text-model", type=Path, help="text model folder (default: the bundled one)")
    parser.add_argument("--n", type=int, default=5000, help="composite samples (default 5000)")
    parser.add_argument("--fusion-model", type=Path, help="late-fusion folder (default assets/fusion)")
    parser.add_argument("--all", action="store_true", help="draw from whole pools, not the held-out half")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "emolive" / "pools",
                        help="folder keeping each channel's outputs on its pool, so a second run skips the models "
                             "(default ~/.cache/emolive/pools)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the composite draw (default 1)")
    parser.add_argument("--text-mode", choices=("realistic", "matched"), default="realistic",
                        help="realistic (default): mostly the neutral words of the speech itself; matched: "
                             "an utterance of the same label every time")
    parser.add_argument("--emotional-share", type=float, default=0.25,
                        help="realistic mode: share of composites with an emotional utterance (default 0.25)")
    parser.add_argument("--none-share", type=float, default=0.15,
                        help="realistic mode: share of composites without words (default 0.15)")


def run(args: argparse.Namespace) -> int:
    import json

    from emolive.evaluation.composite import draw, face_pool, own_words_for, present, text_pool, voice_pool
    from emolive.evaluation.metrics import classification_report
    from emolive.fusion.fuser import Fuser
    from emolive.fusion.late import MODALITIES, TrustPolicy, fused_predictions

    shares = realistic_shares(args.emotional_share, args.none_share)
    if shares is None:
        raise EmoliveError("--emotional-share and --none-share must be in [0, 1] and sum to at most 1")
    pools = {"face": face_pool(args.face, args.face_model, cache=args.cache),
             "voice": voice_pool(args.voice, args.voice_model, cache=args.cache),
             "text": text_pool(args.text, args.text_model, cache=args.cache)}
    if not args.all:
        pools = {m: p.split(0.5, 0)[1] for m, p in pools.items()}
    own = own_words_for(pools, args.text_model, args.cache) if args.text_mode == "realistic" else None
    x, trust, y = draw(pools, args.n, seed=args.seed, text=args.text_mode, own_words=own, shares=shares)
    _, trust_ungated, _ = draw(pools, args.n, seed=args.seed, text=args.text_mode, own_words=own, shares=shares,
                               policy=TrustPolicy(text_emotional_gate=False))
    _, trust_soft, _ = draw(pools, args.n, seed=args.seed, text=args.text_mode, own_words=own, shares=shares,
                            policy=TrustPolicy(text_neutral_margin=0.0))
    model = Fuser.from_dir(args.fusion_model)
    rows: dict[str, dict] = {}
    for j, modality in enumerate(MODALITIES):
        spoke = present(x, "text") if modality == "text" else np.ones(len(y), bool)  # ignored words still answer
        pred = np.where(spoke, x[:, j].argmax(axis=1), -1)  # no words: no answer (always wrong)
        rows[f"{modality} only"] = classification_report(y, pred, EMOTIONS)
    rows["fused"] = classification_report(y, fused_predictions(model, x, trust), EMOTIONS)
    rows["fused, words not gated"] = classification_report(y, fused_predictions(model, x, trust_ungated), EMOTIONS)
    rows["fused, gate 1 - p(neutral)"] = classification_report(y, fused_predictions(model, x, trust_soft), EMOTIONS)
    for j, modality in enumerate(MODALITIES):
        t = trust.copy()
        t[:, j] = 0.0
        rows[f"fused without {modality}"] = classification_report(y, fused_predictions(model, x, t), EMOTIONS)
    if args.json:
        print(json.dumps({name: {k: r[k] for k in ("n", "accuracy", "macro_f1", "weighted_f1")}
                          for name, r in rows.items()}))
        return 0
    mode = (f"realistic words: {shares['own_words']:.0%} their own neutral statement, "
            f"{shares['emotional']:.0%} an emotional utterance, {shares['none']:.0%} none"
            if args.text_mode == "realistic" else "matched words: an utterance of the same label every time")
    print(f"{args.n} composite samples ({'whole pools' if args.all else 'held-out halves'}; {mode}); "
          "an engineering check of fusion, not real conversations")
    print(f"{'':<28}{'accuracy':>10}{'macro F1':>10}")
    for name, r in rows.items():
        print(f"{name:<28}{r['accuracy']:>10.4f}{r['macro_f1']:>10.4f}")
    best_single = max(rows[f"{m} only"]["macro_f1"] for m in MODALITIES)
    print(f"fused - best single channel: {rows['fused']['macro_f1'] - best_single:+.4f} macro F1")
    return 0


def realistic_shares(emotional: float, none: float) -> dict[str, float] | None:
    """The realistic mode's shares (own words, emotional utterance, none); None when they do not add up."""
    if not (0 <= emotional <= 1 and 0 <= none <= 1 and emotional + none <= 1):
        return None
    return {"own_words": 1.0 - emotional - none, "emotional": emotional, "none": none}
