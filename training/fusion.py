"""Train the late-fusion layer (3 modality weights + 7 class biases) on frozen per-modality models.

    python -m training fusion --face FER_VAL_DIR --voice HELD_OUT_SPEECH_DIR --text MELD_DEV_CSV --out assets/fusion

With ``--arch crossmodal`` it trains the cross-modal transformer on MELD-format clips instead
(see training.crossmodal).

Each channel scores its own labelled pool once (cached); pools are split by speaker/dialogue/image into a
training half and a held-out half (the half `emolive eval fusion` scores); the training half is split the
same way again into a fitting part and a validation part. Composites (realistic words by default, see
emolive.evaluation.composite) are fitted on the first, the best epoch is chosen on the second, and the
held-out half is only scored, before (equal weights) and after. The voice pool must hold speakers the
voice model did not train on.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from emolive.core.errors import EmoliveError
from emolive.core.labels import EMOTIONS
from emolive.evaluation.composite import draw, face_pool, text_pool, voice_pool
from emolive.evaluation.metrics import classification_report
from emolive.fusion.late import MODALITIES, fused_predictions
from emolive.fusion.late_model import LateFusion
from training.common import FitConfig, fit

log = logging.getLogger(__name__)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training fusion", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=("late", "crossmodal"), default="late",
                   help="late: this trainer; crossmodal: python -m training fusion --arch crossmodal --help")
    p.add_argument("--face", type=Path, help="labelled face crops (image folder)")
    p.add_argument("--voice", type=Path, help="labelled speech (RAVDESS tree or class folders)")
    p.add_argument("--text", type=Path, help="MELD-format CSV")
    p.add_argument("--out", type=Path, default=Path("assets/fusion"))
    p.add_argument("--face-model", type=Path)
    p.add_argument("--voice-model", type=Path)
    p.add_argument("--text-model", type=Path)
    p.add_argument("--n", type=int, default=20_000, help="composite samples to fit on")
    p.add_argument("--drop", type=float, default=0.3, help="chance of leaving each modality out while fitting")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--init-weights", type=float, nargs=3, metavar=("FACE", "VOICE", "TEXT"),
                   help="initial modality weights (normalised to sum 1; default equal)")
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "emolive" / "pools")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--text-mode", choices=("realistic", "matched"), default="realistic",
                   help="words of the composites (see emolive eval fusion --help)")
    p.add_argument("--emotional-share", type=float, default=0.25)
    p.add_argument("--none-share", type=float, default=0.15)
    p.add_argument("--no-resume", action="store_true")
    return p


def load_pools(args: argparse.Namespace):
    """The pools of the modalities given (a left-out modality is absent from every composite)."""
    builders = {"face": (face_pool, args.face, args.face_model), "voice": (voice_pool, args.voice, args.voice_model),
                "text": (text_pool, args.text, args.text_model)}
    pools = {m: build(data, model, args.cache) for m, (build, data, model) in builders.items() if data is not None}
    if not pools:
        raise EmoliveError("give at least one of --face, --voice, --text")
    return pools


def main(argv: list[str]) -> int:
    arch = argparse.ArgumentParser(add_help=False)
    arch.add_argument("--arch", default="late")
    known, rest = arch.parse_known_args(argv)
    if known.arch == "crossmodal":
        from training.crossmodal import main as crossmodal_main

        return crossmodal_main(rest)
    args = parser().parse_args(argv)
    from emolive.evaluation.composite import own_words_for
    from emolive.evaluation.fusion import realistic_shares

    shares = realistic_shares(args.emotional_share, args.none_share)
    if shares is None:
        raise EmoliveError("--emotional-share and --none-share must be in [0, 1] and sum to at most 1")
    pools = load_pools(args)
    own = own_words_for(pools, args.text_model, args.cache) if args.text_mode == "realistic" else None
    # the held-out half is the one `emolive eval fusion` scores (its split seed is 0)
    train_half = {m: p.split(0.5, 0)[0] for m, p in pools.items()}
    held_half = {m: p.split(0.5, 0)[1] for m, p in pools.items()}
    fit_part = {m: p.split(0.5, args.seed + 1)[0] for m, p in train_half.items()}
    val_part = {m: p.split(0.5, args.seed + 1)[1] for m, p in train_half.items()}
    kw = {"text": args.text_mode, "own_words": own, "shares": shares}
    x, trust, y = draw(fit_part, args.n, seed=args.seed, drop=args.drop, **kw)
    vx, vtrust, vy = draw(val_part, max(2000, args.n // 4), seed=args.seed + 1, **kw)
    hx, htrust, hy = draw(held_half, 5000, seed=1, **kw)
    train_set = TensorDataset(torch.from_numpy(x).float(), torch.from_numpy(trust).float(), torch.from_numpy(y))
    model = LateFusion()
    if args.init_weights:
        init = torch.tensor(args.init_weights, dtype=torch.float32).clamp_min(1e-3)
        model.weight_logits.data = torch.log(init / init.sum())
    before = classification_report(hy, fused_predictions(model, hx, htrust), EMOTIONS)
    val_before = classification_report(vy, fused_predictions(model, vx, vtrust), EMOTIONS)

    def loss_fn(net, batch, device):
        lp, tr, target = (b.to(device) for b in batch)
        fused, _ = net(lp, tr)
        return torch.nn.functional.nll_loss(fused, target)

    def evaluate(net) -> dict:
        return classification_report(vy, fused_predictions(net, vx, vtrust), EMOTIONS)

    cfg = FitConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=0.0, schedule="cosine",
                    patience=5, monitor="macro_f1", class_weights=False, seed=args.seed, threads=1)
    config = {"kind": "late_fusion", "modalities": list(MODALITIES), "labels": list(EMOTIONS),
              "text_mode": args.text_mode, "shares": shares if args.text_mode == "realistic" else None,
              "data": {m: str(getattr(args, m)) for m in MODALITIES if getattr(args, m) is not None}}
    best = fit(model, train_set, loss_fn, evaluate, cfg, args.out, config, resume=not args.no_resume)
    from emolive.fusion.fuser import Fuser

    shipped = Fuser.from_dir(args.out).model  # the best epoch, as exported
    after = classification_report(hy, fused_predictions(shipped, hx, htrust), EMOTIONS)
    weights = dict(zip(MODALITIES, shipped.modality_weights().detach().numpy().round(4).tolist(), strict=True))
    print(json.dumps({"text_mode": args.text_mode,
                      "validation_macro_f1_equal_weights": round(val_before["macro_f1"], 4),
                      "validation_macro_f1_best": round(best.get("macro_f1", 0.0), 4),
                      "held_out_macro_f1_equal_weights": round(before["macro_f1"], 4),
                      "held_out_macro_f1_learned": round(after["macro_f1"], 4),
                      "held_out_accuracy_equal_weights": round(before["accuracy"], 4),
                      "held_out_accuracy_learned": round(after["accuracy"], 4),
                      "modality_weights": weights,
                      "class_bias": dict(zip(EMOTIONS, shipped.class_bias.detach().numpy().round(3).tolist(),
                                             strict=True))}))
    return 0
