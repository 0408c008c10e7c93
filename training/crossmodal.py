"""Train the cross-modal fusion transformer on MELD-format clips.

    python -m training fusion --arch crossmodal --clips CLIPS_DIR --csv MELD.csv --out DIR

Each CSV row (Utterance, Emotion, Sentiment, Dialogue_ID, Utterance_ID) names its clip
``dia{Dialogue_ID}_utt{Utterance_ID}.mp4`` in ``--clips`` (default: the CSV's folder). Every clip runs
through ``emolive.offline.analysis.analyze_file`` with the app's own face and voice channels (ASR off) and the
row's utterance goes to the text channel, so the transformer learns from exactly the embedding sequences it
sees live. Features are cached per clip. Validation: ``--dev-csv`` (+ ``--dev-clips``) or a held-out share of
the dialogues.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emolive.core.errors import EmoliveError, MediaError
from emolive.core.labels import EMOTIONS, SENTIMENTS
from emolive.models.device import limit_torch_threads

log = logging.getLogger(__name__)

MODALITIES = ("face", "voice", "text")


@dataclass(frozen=True)
class ClipRow:
    """One labelled utterance and where its clip is; ``where`` names the CSV line for error messages."""

    clip: Path
    text: str
    context: tuple[str, ...]
    emotion: int
    sentiment: int
    dialogue: str
    where: str


@dataclass(frozen=True)
class ClipFeatures:
    """Embedding sequences of one clip: face [T_f, D_f], voice [T_v, D_v], text [0 or 1, D_t]."""

    face: np.ndarray
    voice: np.ndarray
    text: np.ndarray
    emotion: int
    sentiment: int


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training fusion --arch crossmodal", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--csv", type=Path, required=True, help="MELD-format CSV of the training clips")
    p.add_argument("--clips", type=Path, help="folder of dia{D}_utt{U}.mp4 clips (default: next to the CSV)")
    p.add_argument("--dev-csv", type=Path, help="validation CSV (default: hold out --val-frac of the dialogues)")
    p.add_argument("--dev-clips", type=Path, help="clips of --dev-csv (default: next to it)")
    p.add_argument("--val-frac", type=float, default=0.2)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--init", type=Path, help="fine-tune this cross-modal model folder instead of starting fresh")
    p.add_argument("--face-model", default="")
    p.add_argument("--voice-model", default="")
    p.add_argument("--text-model", default="")
    p.add_argument("--hop", type=float, default=0.2, help="seconds between embeddings taken from a clip")
    p.add_argument("--context", type=int, default=2, help="previous utterances given to the text channel")
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "emolive" / "crossmodal")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--max-len", type=int, default=64, help="longest embedding sequence per modality")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--weight-decay", type=float, default=1e-2)
    p.add_argument("--loss", choices=("ce", "focal"), default="ce")
    p.add_argument("--focal-gamma", type=float, default=2.0)
    p.add_argument("--class-weights", choices=("on", "off"), default="on", help="inverse-frequency emotion weights")
    p.add_argument("--sentiment-weight", type=float, default=0.5)
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--time-budget", type=float, default=0.0, help="seconds (0: no limit)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-resume", action="store_true")
    return p


def read_rows(csv_path: Path, clips: Path | None, context: int) -> list[ClipRow]:
    """The CSV's rows with their clip paths; a missing clip is an error naming the row and the file."""
    from emolive.text.data import load_meld_csv, previous_utterances

    utterances = load_meld_csv(csv_path, require_context=True)
    folder = clips or csv_path.parent
    if not folder.is_dir():
        raise EmoliveError(f"clip folder not found: {folder}")
    contexts = previous_utterances(utterances, context)
    rows = []
    for line, (u, ctx) in enumerate(zip(utterances, contexts, strict=True), start=2):
        where = f"{csv_path}: line {line}"
        clip = folder / f"dia{u.dialogue}_utt{u.index}.mp4"
        if not clip.is_file():
            raise EmoliveError(f"{where}: clip not found: {clip}")
        rows.append(ClipRow(clip, u.text, tuple(ctx), u.emotion, u.sentiment, u.dialogue, where))
    return rows


def _cache_key(row: ClipRow, hop: float, models: Sequence[str]) -> str:
    stat = row.clip.stat()
    raw = "|".join([str(row.clip.resolve()), str(stat.st_size), str(stat.st_mtime_ns), row.text,
                    "\x1f".join(row.context), f"{hop:.4f}", *models])
    return hashlib.sha1(raw.encode()).hexdigest()


def clip_features(row: ClipRow, channels: Any, hop: float) -> ClipFeatures:
    """Run the app's analysis over one clip and collect the per-step face/voice embeddings plus the text one."""
    from emolive.config import AppConfig, AsrConfig, InferenceConfig
    from emolive.offline.analysis import analyze_file

    config = AppConfig(inference=InferenceConfig(hop_s=hop), asr=AsrConfig(enabled=False))
    seqs: dict[str, list[np.ndarray]] = {"face": [], "voice": []}
    last_t: dict[str, float] = {}

    def collect(estimate) -> None:
        for m in ("face", "voice"):
            out = estimate.modality(m)
            if out is not None and out.present and out.embedding is not None and last_t.get(m) != out.t:
                last_t[m] = out.t
                seqs[m].append(np.asarray(out.embedding, dtype=np.float32).ravel())

    try:
        analyze_file(row.clip, config, asr=False, channels=channels, on_estimate=collect)
    except MediaError as exc:
        raise EmoliveError(f"{row.where}: {exc}") from exc
    text = np.zeros((0, 0), np.float32)
    if channels.text is not None and row.text:
        out = channels.text.process(row.text, 0.0, row.context)
        if out.present and out.embedding is not None:
            text = np.asarray(out.embedding, dtype=np.float32).reshape(1, -1)
    stack = {m: np.stack(v) if v else np.zeros((0, 0), np.float32) for m, v in seqs.items()}
    return ClipFeatures(stack["face"], stack["voice"], text, row.emotion, row.sentiment)


def extract(rows: Sequence[ClipRow], channels: Any, hop: float, cache: Path | None,
            models: Sequence[str] = ()) -> list[ClipFeatures]:
    """Features of every row, read from / written to ``cache`` (one .npz per clip) when given."""
    out = []
    for i, row in enumerate(rows):
        path = cache / f"{_cache_key(row, hop, models)}.npz" if cache else None
        if path is not None and path.is_file():
            with np.load(path) as data:
                out.append(ClipFeatures(data["face"], data["voice"], data["text"], row.emotion, row.sentiment))
            continue
        feats = clip_features(row, channels, hop)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")  # ranks of a DDP run may race here
            np.savez(tmp, face=feats.face, voice=feats.voice, text=feats.text)
            tmp.replace(path)
        out.append(feats)
        if (i + 1) % 50 == 0:
            log.info("features: %d/%d clips", i + 1, len(rows))
    return out


def feature_dims(items: Sequence[ClipFeatures], defaults: dict[str, int]) -> dict[str, int]:
    """Embedding width per modality, from the first clip that has it (else the default)."""
    dims = dict(defaults)
    for m in MODALITIES:
        widths = {getattr(f, m).shape[1] for f in items if getattr(f, m).shape[0] > 0}
        if len(widths) > 1:
            raise EmoliveError(f"the {m} embeddings differ in width across clips: {sorted(widths)}")
        if widths:
            dims[m] = widths.pop()
    return dims


class Collate:
    """Pads a batch into the transformer's inputs/masks (at least one slot per modality, masked when empty)."""

    def __init__(self, dims: dict[str, int], max_len: int) -> None:
        self.dims, self.max_len = dims, max_len

    def __call__(self, items: Sequence[ClipFeatures]) -> dict[str, Any]:
        inputs, masks = {}, {}
        for m in MODALITIES:
            seqs = [getattr(f, m)[-self.max_len:] for f in items]
            length = max(1, max(s.shape[0] for s in seqs))
            x = torch.zeros(len(items), length, self.dims[m])
            mask = torch.zeros(len(items), length, dtype=torch.bool)
            for i, s in enumerate(seqs):
                if s.shape[0]:
                    x[i, : s.shape[0]] = torch.from_numpy(s)
                    mask[i, : s.shape[0]] = True
            inputs[m], masks[m] = x, mask
        return {"inputs": inputs, "masks": masks,
                "emotion": torch.tensor([f.emotion for f in items]),
                "sentiment": torch.tensor([f.sentiment for f in items])}


def split_by_dialogue(rows: Sequence[ClipRow], frac: float, seed: int) -> tuple[list[int], list[int]]:
    """Row indices (train, val) with whole dialogues held out."""
    dialogues = sorted({r.dialogue for r in rows})
    if len(dialogues) < 2:
        raise EmoliveError("need clips from at least 2 dialogues to hold some out (or pass --dev-csv)")
    rng = np.random.default_rng(seed)
    n_val = min(len(dialogues) - 1, max(1, round(frac * len(dialogues))))
    held = set(rng.permutation(dialogues)[:n_val].tolist())
    train = [i for i, r in enumerate(rows) if r.dialogue not in held]
    val = [i for i, r in enumerate(rows) if r.dialogue in held]
    return train, val


def predict(model: torch.nn.Module, items: Sequence[ClipFeatures], collate: Collate,
            batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Predicted (emotion, sentiment) class indices."""
    device = next(model.parameters()).device
    emo, sen = [], []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(items), batch_size):
            batch = collate(items[start : start + batch_size])
            out = model({m: x.to(device) for m, x in batch["inputs"].items()},
                        {m: x.to(device) for m, x in batch["masks"].items()})
            emo.append(out["emotion"].argmax(-1).cpu().numpy())
            sen.append(out["sentiment"].argmax(-1).cpu().numpy())
    return np.concatenate(emo), np.concatenate(sen)


def train(args: argparse.Namespace, train_items: Sequence[ClipFeatures], val_items: Sequence[ClipFeatures]
          ) -> dict[str, Any]:
    """Fit the transformer with ``training.common.fit``; returns the best epoch's validation report."""
    from emolive.evaluation.metrics import classification_report
    from emolive.fusion.crossmodal import CrossModalConfig, CrossModalTransformer
    from emolive.models.io import load_config, load_into
    from training.common import FitConfig, class_weight_tensor, fit, make_loss

    if not train_items or not val_items:
        raise EmoliveError(f"need training and validation clips (got {len(train_items)} and {len(val_items)})")
    if args.init:
        config = CrossModalConfig.from_dict(load_config(args.init))
    else:
        config = CrossModalConfig(hidden=args.hidden, heads=args.heads, layers=args.layers, dropout=args.dropout,
                                  max_len=args.max_len)
    defaults = {"face": config.face_dim, "voice": config.voice_dim, "text": config.text_dim}
    dims = feature_dims([*train_items, *val_items], defaults)
    if args.init and dims != defaults:
        raise EmoliveError(f"{args.init} expects embedding widths {defaults}, the clips give {dims}")
    config = replace(config, face_dim=dims["face"], voice_dim=dims["voice"], text_dim=dims["text"])
    model = CrossModalTransformer(config)
    if args.init:
        load_into(model, args.init)
    collate = Collate(dims, config.max_len)
    cfg = FitConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
                    schedule="onecycle", patience=args.patience, monitor="macro_f1", loss=args.loss,
                    focal_gamma=args.focal_gamma, class_weights=args.class_weights == "on", seed=args.seed,
                    threads=args.threads, device=args.device, time_budget_s=args.time_budget)
    emotion_loss = make_loss(cfg, class_weight_tensor([f.emotion for f in train_items], len(EMOTIONS)))
    sentiment_loss = torch.nn.CrossEntropyLoss()
    val_emotion = np.array([f.emotion for f in val_items])
    val_sentiment = np.array([f.sentiment for f in val_items])

    def loss_fn(net: torch.nn.Module, batch: dict[str, Any], device: torch.device) -> torch.Tensor:
        emotion_loss.to(device)
        out = net({m: x.to(device) for m, x in batch["inputs"].items()},
                  {m: x.to(device) for m, x in batch["masks"].items()})
        return (emotion_loss(out["emotion"], batch["emotion"].to(device))
                + args.sentiment_weight * sentiment_loss(out["sentiment"], batch["sentiment"].to(device)))

    def evaluate(net: torch.nn.Module) -> dict[str, Any]:
        emo, sen = predict(net, val_items, collate)
        report = classification_report(val_emotion, emo, EMOTIONS)
        report["sentiment_macro_f1"] = classification_report(val_sentiment, sen, SENTIMENTS)["macro_f1"]
        return report

    model_config = {**config.to_dict(), "labels": list(EMOTIONS), "sentiments": list(SENTIMENTS),
                    "data": {"csv": str(args.csv), "clips": str(args.clips or args.csv.parent),
                             "hop_s": args.hop, "train_clips": len(train_items), "val_clips": len(val_items)}}
    return fit(model, list(train_items), loss_fn, evaluate, cfg, args.out, model_config,
               resume=not args.no_resume, collate_fn=collate)


def run(args: argparse.Namespace, channels: Any = None) -> dict[str, Any]:
    """Read the rows, extract (or load cached) features with ``channels`` (default: the app's), and train."""
    limit_torch_threads(args.threads)
    rows = read_rows(args.csv, args.clips, args.context)
    if args.dev_csv:
        dev_rows = read_rows(args.dev_csv, args.dev_clips, args.context)
    else:
        train_idx, val_idx = split_by_dialogue(rows, args.val_frac, args.seed)
        rows, dev_rows = [rows[i] for i in train_idx], [rows[i] for i in val_idx]
    if channels is None:
        from emolive.config import InferenceConfig
        from emolive.runtime.channels import load_channels

        channels = load_channels(InferenceConfig(threads=args.threads, face_model=args.face_model,
                                                 voice_model=args.voice_model, text_model=args.text_model))
        for problem in channels.problems:
            log.warning("%s (that modality is left out of the features)", problem)
    models = (args.face_model, args.voice_model, args.text_model, str(args.context))
    train_items = extract(rows, channels, args.hop, args.cache, models)
    val_items = extract(dev_rows, channels, args.hop, args.cache, models)
    return train(args, train_items, val_items)


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(list(argv))
    best = run(args)
    print(f"cross-modal fusion: best validation macro F1 {best.get('macro_f1', 0.0):.4f} "
          f"(accuracy {best.get('accuracy', 0.0):.4f}) -> {args.out}")
    return 0
