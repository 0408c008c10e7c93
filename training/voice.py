"""Train the voice model: `python -m training voice --data RAVDESS [--tess TESS] --out assets/voice`.

1. Speaker-independent cross-validation on RAVDESS: folds of whole actors, every epoch scored on the held-out
   actors' whole clips (windows aggregated). Extra corpora (TESS) only ever join the training side.
2. The recipe (fixed epoch count, OneCycle schedule) is scored at its last epoch; a softmax temperature is
   fitted on the pooled out-of-fold windows there (calibration).
3. The shipped model is trained on all actors (+ extras) for that many epochs and exported with its config,
   the CV figures and ``cv_report.json``.

``--encoder whisper`` instead fits linear heads on Whisper tiny.en embeddings (training/voice_whisper.py),
with the same actor folds; that is how the default ``assets/voice`` is made.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from emolive.core.errors import ConfigError, MediaError
from emolive.core.labels import EMOTIONS
from emolive.evaluation.metrics import classification_report, format_report
from emolive.models.io import CONFIG_NAME, WEIGHTS_NAME, save_config
from emolive.voice.data import Clip, find_clips
from emolive.voice.features import FeatureSpec, clip_windows, fit_window
from emolive.voice.heads import EMBEDDING_NORMS
from emolive.voice.model import VoiceModelConfig, VoiceNet
from emolive.voice.norm import NORM_MODES
from emolive.voice.whisper_encoder import POOLINGS
from training.calibration import fit_voice_temperature
from training.common import FitConfig, class_weight_tensor, fit
from training.voice_cache import FeatureSet, cached_features

log = logging.getLogger(__name__)


@dataclass
class Augment:
    """Feature-domain augmentation of a log-mel window (dB)."""

    noise_prob: float = 0.5
    noise_snr_db: tuple[float, float] = (10.0, 35.0)
    time_masks: int = 2
    time_mask_max: int = 20
    freq_masks: int = 2
    freq_mask_max: int = 6

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = x.copy()
        if rng.random() < self.noise_prob:  # additive noise, done in the power domain
            level = x.max() - rng.uniform(*self.noise_snr_db)
            tilt = np.linspace(0.0, rng.uniform(-12.0, 6.0), x.shape[1], dtype=np.float32)
            noise_db = level + tilt + rng.normal(0.0, 3.0, size=x.shape).astype(np.float32)
            x = 10.0 * np.log10(10.0 ** (x / 10.0) + 10.0 ** (noise_db / 10.0))
        fill = float(x.mean())
        for _ in range(self.time_masks):
            w = int(rng.integers(0, self.time_mask_max + 1))
            s = int(rng.integers(0, max(1, x.shape[0] - w)))
            x[s:s + w] = fill
        for _ in range(self.freq_masks):
            w = int(rng.integers(0, self.freq_mask_max + 1))
            s = int(rng.integers(0, max(1, x.shape[1] - w)))
            x[:, s:s + w] = fill
        return x.astype(np.float32, copy=False)


class WindowDataset(Dataset):
    """Random ~2 s windows centred on speech, one per clip per epoch; extra clips are drawn at random.

    Items ``0 .. len(main)-1`` are the main clips; the remaining ``n_extra`` items draw a random extra clip.
    """

    def __init__(self, main: list[int], extra: list[int], n_extra: int, feats: FeatureSet, labels: np.ndarray,
                 arousal: np.ndarray, window: int, augment: Augment | None, seed: int = 0) -> None:
        self.main, self.extra, self.n_extra = main, extra, n_extra if extra else 0
        self.feats, self.labels, self.arousal = feats, labels, arousal
        self.window, self.augment = window, augment
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.main) + self.n_extra

    def _start(self, i: int) -> int:
        n = len(self.feats.features[i])
        if n <= self.window:
            return 0
        speech = np.flatnonzero(self.feats.speech[i] >= 0.5)
        centre = int(self.rng.choice(speech)) if speech.size else int(self.rng.integers(0, n))
        return int(np.clip(centre - self.window // 2, 0, n - self.window))

    def __getitem__(self, item: int) -> tuple[torch.Tensor, int, float]:
        i = self.main[item] if item < len(self.main) else int(self.rng.choice(self.extra))
        x = fit_window(self.feats.features[i], self.window, self._start(i))
        if self.augment is not None:
            x = self.augment(x, self.rng)
        return torch.from_numpy(np.ascontiguousarray(x)), int(self.labels[i]), float(self.arousal[i])


def batch_loss(arousal_weight: float, class_weight: torch.Tensor | None, smoothing: float):
    def loss_fn(model: torch.nn.Module, batch: Any, device: torch.device) -> torch.Tensor:
        x, y, a = (t.to(device) for t in batch)
        logits, arousal, _ = model(x)
        w = class_weight.to(device) if class_weight is not None else None
        ce = F.cross_entropy(logits, y, weight=w, label_smoothing=smoothing)
        return ce + arousal_weight * F.mse_loss(arousal, a.float())

    return loss_fn


class ClipScorer:
    """Scores whole clips (windows aggregated) and keeps every epoch's window logits for calibration."""

    def __init__(self, indices: list[int], feats: FeatureSet, labels: np.ndarray, window: int, hop: int,
                 min_speech: float) -> None:
        self.labels = labels[indices]
        self.windows = [clip_windows(feats.features[i], feats.speech[i], window, hop, min_speech) for i in indices]
        self.epochs: list[dict[str, Any]] = []

    def __call__(self, model: torch.nn.Module) -> dict[str, Any]:
        device = next(model.parameters()).device
        x = torch.from_numpy(np.concatenate([w for w, _ in self.windows])).to(device)
        logits = torch.cat([model(chunk)[0] for chunk in x.split(256)]).cpu().numpy()
        probs = _softmax(logits)
        preds, start = [], 0
        for _, weights in self.windows:
            p = probs[start:start + len(weights)]
            preds.append(int(np.argmax((p * weights[:, None]).sum(0))))
            start += len(weights)
        report = classification_report(self.labels, preds, EMOTIONS)
        win_labels = np.concatenate([np.full(len(w), y) for (_, w), y in zip(self.windows, self.labels,
                                                                              strict=True)])
        self.epochs.append({"report": report, "preds": np.array(preds), "logits": logits,
                            "window_labels": win_labels})
        return {**report, "epoch": len(self.epochs)}

    def save(self, path: Path) -> None:
        """Keep every epoch's clip predictions and window logits (plain arrays) so CV can be summarised later."""
        np.savez(path, labels=self.labels, preds=np.stack([e["preds"] for e in self.epochs]),
                 logits=np.stack([e["logits"] for e in self.epochs]), window_labels=self.epochs[0]["window_labels"])

    def restore(self, path: Path, epochs: int) -> bool:
        """Load a finished fold saved by ``save``; False when absent or not ``epochs`` long."""
        if not path.is_file():
            return False
        with np.load(path, allow_pickle=False) as data:
            if len(data["preds"]) != epochs or not np.array_equal(data["labels"], self.labels):
                return False
            self.epochs = [{"report": classification_report(self.labels, preds, EMOTIONS), "preds": preds,
                            "logits": logits, "window_labels": data["window_labels"]}
                           for preds, logits in zip(data["preds"], data["logits"], strict=True)]
        return True


class _EpochCounter:
    """Stand-in validation for the final fit (no held-out data): the monitored value grows every epoch,
    so the last epoch is the one exported."""

    def __init__(self) -> None:
        self.epoch = 0

    def __call__(self, _model: torch.nn.Module) -> dict[str, Any]:
        self.epoch += 1
        return {"epoch": self.epoch}


def _softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def actor_folds(speakers: Sequence[str], n_folds: int) -> list[list[str]]:
    """Split the sorted speakers into ``n_folds`` groups of consecutive ids (RAVDESS: odd male, even female,
    so groups of 4 consecutive actors hold 2 + 2)."""
    ordered = sorted(set(speakers))
    if n_folds < 2 or n_folds > len(ordered):
        raise ConfigError(f"--folds must be between 2 and the number of speakers ({len(ordered)})")
    return [list(part) for part in np.array_split(np.array(ordered), n_folds)]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training voice", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="RAVDESS-style tree (labels from file names)")
    p.add_argument("--tess", "--extra", dest="tess", type=Path, action="append", default=[],
                   help="another labelled corpus (TESS, nEMO, ASED, class folders); in training folds only for the "
                        "held-out-actor CV; repeatable")
    p.add_argument("--out", type=Path, default=Path("assets/voice"), help="where the model is exported")
    p.add_argument("--work", type=Path, default=None,
                   help="checkpoints, resumable (default: $TMPDIR/emolive_voice_runs)")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--cv-only", action="store_true", help="stop after cross-validation")
    p.add_argument("--no-cv", action="store_true", help="skip CV; needs --epochs as the final epoch count")
    p.add_argument("--epochs", type=int, default=24)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=1e-3)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--arousal-weight", type=float, default=0.5)
    p.add_argument("--channels", type=str, default="8,16,32,64")
    p.add_argument("--embedding-dim", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--window-s", type=float, default=2.0)
    p.add_argument("--hop-s", type=float, default=0.5, help="window hop when scoring whole clips")
    p.add_argument("--min-speech", type=float, default=0.25)
    p.add_argument("--extra-ratio", type=float, default=0.5,
                   help="extra-corpus windows per epoch, as a fraction of the main training clips")
    p.add_argument("--repeat", type=int, default=2, help="windows drawn per training clip per epoch")
    p.add_argument("--encoder", choices=("logmel-cnn", "whisper", "whisper-base"), default="logmel-cnn",
                   help="log-mel CNN trained here, or linear heads on Whisper tiny.en encoder embeddings "
                        "(whisper-base: the multilingual base encoder, an experiment the live channel cannot load)")
    p.add_argument("--whisper-c", type=float, default=0.1, help="inverse L2 strength of the Whisper head")
    p.add_argument("--leave-one-corpus-out", action="store_true",
                   help="whisper: also train on all corpora but one and test on it, for each corpus")
    p.add_argument("--speaker-folds", type=int, default=0,
                   help="whisper: also N folds of held-out speakers within each --extra corpus")
    p.add_argument("--aug-copies", type=int, default=0,
                   help="whisper: augmented copies per training clip (noise, reverb, gain, speed, band-limit)")
    p.add_argument("--window-crops", action="store_true",
                   help="whisper: the --aug-copies copies are random --window-s windows of the clean clips (what the "
                        "live channel scores) instead of noise, reverb, gain, speed and band changes")
    p.add_argument("--window-test", action="store_true",
                   help="whisper: also score every held-out clip on one random --window-s window (what the live "
                        "channel hears), in the speaker folds and the leave-one-corpus-out folds; never trained on")
    p.add_argument("--embedding-norm", choices=EMBEDDING_NORMS, default="none",
                   help="whisper: per-utterance normalisation of the embedding")
    p.add_argument("--prior-correction", action="store_true",
                   help="whisper: logit offsets so that every class has the same mean probability in training")
    p.add_argument("--speaker-norm", choices=("none", "speaker", "running"), default="none",
                   help="whisper: standardise features per training speaker (speaker) or by running statistics "
                        "(running); held-out speakers always by running statistics, as live")
    p.add_argument("--pooling", choices=POOLINGS, default="mean+std",
                   help="whisper: the head reads the frame mean and std of the encoder output, or the mean only")
    p.add_argument("--prosody", action="store_true",
                   help="whisper: append the prosodic statistics (emolive.voice.prosody) to the embedding")
    p.add_argument("--prosody-weight", type=float, default=1.0,
                   help="whisper: scale of the standardised prosodic features (weaker L2 penalty above 1)")
    p.add_argument("--norm-prior-weight", type=float, default=20.0,
                   help="whisper: updates' worth of the training statistics the running normalisation starts from")
    p.add_argument("--norm-memory", type=float, default=200.0,
                   help="whisper: effective memory (updates) of the running normalisation")
    p.add_argument("--norm-mode", choices=NORM_MODES, default="full",
                   help="whisper: the running normalisation centres and scales by all it heard (full), takes off "
                        "only the session mean's part along --norm-rank voice/room directions (voice), or takes it "
                        "off in all but --norm-rank emotion directions (emotion)")
    p.add_argument("--norm-rank", type=int, default=32,
                   help="whisper, --norm-mode voice/emotion: directions of the basis")
    p.add_argument("--train-moods", action="store_true",
                   help="whisper, --speaker-norm running: also train on the clean clips normalised as one-mood "
                        "sessions (each speaker's clips of one class in a row)")
    p.add_argument("--arch", choices=("cnn2d", "tdnn"), default="cnn2d")
    p.add_argument("--freq-pool", choices=("flatten", "mean"), default="flatten")
    p.add_argument("--init", type=Path, default=None,
                   help="adapt this Whisper-embedding voice model to the speech in --data (personal fine-tuning, "
                        "see training.voice_adapt); uses --epochs (default 24), --lr, --batch-size")
    p.add_argument("--prior-strength", type=float, default=0.01,  # emolive.voice.adapt.DEFAULT_PRIOR_STRENGTH
                   help="with --init: pull of the emotion head towards the starting model")
    p.add_argument("--holdout", type=float, default=0.5,
                   help="with --init: share of non-RAVDESS clips held back to score before/after")
    p.add_argument("--no-resume", action="store_true", help="with --init: start over instead of resuming")
    p.add_argument("--only-fold", type=int, default=0, help="run just this CV fold (1-based; experiments)")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    return p


def _labelled(root: Path) -> list[Clip]:
    kept = [c for c in find_clips(root) if c.label is not None]
    if not kept:
        raise MediaError(f"{root}: no clip with a known emotion class")
    return kept


def _prepare(clips: list[Clip], spec: FeatureSpec) -> tuple[list[Clip], FeatureSet]:
    kept = [c for c in clips if c.label is not None]
    if not kept:
        raise MediaError("no clip with a known emotion class")
    return kept, cached_features(kept, spec)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    if args.init is not None:
        from training.voice_adapt import adapt

        clips = [c for c in find_clips(args.data) if c.label is not None]
        if not clips:
            raise MediaError(f"{args.data}: no clip with a known emotion class")
        return adapt(args, clips)
    if args.encoder in ("whisper", "whisper-base"):  # embeddings from their own cache: no log-mel features to decode
        from training.voice_whisper import train_whisper

        main_clips = _labelled(args.data)
        extra_clips = [c for extra_dir in args.tess for c in _labelled(extra_dir)]
        return train_whisper(args, main_clips, extra_clips, actor_folds([c.speaker for c in main_clips], args.folds))
    spec = FeatureSpec()
    main_clips, main_feats = _prepare(find_clips(args.data), spec)
    extra_clips: list[Clip] = []
    extra_feats = FeatureSet([], [])
    for extra_dir in args.tess:
        clips, feats = _prepare(find_clips(extra_dir), spec)
        extra_clips += clips
        extra_feats.features += feats.features
        extra_feats.speech += feats.speech
    feats = FeatureSet(main_feats.features + extra_feats.features, main_feats.speech + extra_feats.speech)
    all_clips = main_clips + extra_clips
    labels = np.array([c.label for c in all_clips], dtype=np.int64)
    arousal = np.array([c.arousal for c in all_clips], dtype=np.float32)
    n_main = len(main_clips)
    extra_idx = list(range(n_main, len(all_clips)))
    speakers = [c.speaker for c in main_clips]

    window = spec.seconds_to_frames(args.window_s)
    hop = max(1, int(round(args.hop_s * spec.sample_rate / spec.hop_length)))
    model_cfg = VoiceModelConfig(n_mels=spec.n_mels, channels=tuple(int(c) for c in args.channels.split(",")),
                                 embedding_dim=args.embedding_dim, dropout=args.dropout, window_s=args.window_s,
                                 arch=args.arch, freq_pool=args.freq_pool)
    base_config = {"kind": "voice", "model": model_cfg.to_dict(), "features": spec.to_dict(),
                   "labels": list(EMOTIONS), "scoring": {"hop_s": args.hop_s, "min_speech": args.min_speech}}
    work = args.work or Path(tempfile.gettempdir()) / "emolive_voice_runs"
    augment = None if args.no_augment else Augment()

    def fit_cfg(epochs: int, monitor: str) -> FitConfig:
        return FitConfig(epochs=epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
                         schedule="onecycle", patience=epochs + 1, monitor=monitor, label_smoothing=0.0,
                         class_weights=True, seed=args.seed, threads=args.threads)

    def train(train_idx: list[int], scorer: Any, epochs: int, monitor: str, out: Path) -> dict[str, Any]:
        n_extra = int(round(args.extra_ratio * len(train_idx) * args.repeat)) if extra_idx else 0
        dataset = WindowDataset(train_idx * args.repeat, extra_idx, n_extra, feats, labels, arousal, window, augment,
                                seed=args.seed)
        cw = class_weight_tensor(labels[train_idx + extra_idx], len(EMOTIONS))
        loss_fn = batch_loss(args.arousal_weight, cw, args.label_smoothing)
        model = VoiceNet(model_cfg)
        return fit(model, dataset, loss_fn, scorer, fit_cfg(epochs, monitor), out, base_config)

    n_epochs, temperature, cv = args.epochs, 1.0, None
    if not args.no_cv:
        folds = actor_folds(speakers, args.folds)
        scorers = []
        for k, held in enumerate(folds):
            if args.only_fold and k + 1 != args.only_fold:
                continue
            test = [i for i in range(n_main) if speakers[i] in held]
            train_idx = [i for i in range(n_main) if speakers[i] not in held]
            print(f"fold {k + 1}/{len(folds)}: held-out {', '.join(held)} ({len(test)} clips)", flush=True)
            scorer = ClipScorer(test, feats, labels, window, hop, args.min_speech)
            fold_dir = work / f"fold{k + 1}"
            if scorer.restore(fold_dir / "scores.npz", args.epochs):
                print(f"fold {k + 1}: finished earlier, scores loaded from {fold_dir}", flush=True)
            else:
                (fold_dir / "last.pt").unlink(missing_ok=True)  # its per-epoch scores are gone: start afresh
                train(train_idx, scorer, args.epochs, "macro_f1", fold_dir)
                scorer.save(fold_dir / "scores.npz")
            scorers.append(scorer)
        cv = summarise_cv(scorers, folds)
        n_epochs, temperature = cv["chosen_epochs"], cv["temperature"]
        print(format_report(cv["pooled"], f"held-out actors, {len(folds)} folds, epoch {n_epochs} "
                            f"(mean acc {cv['mean_accuracy']:.4f}, mean macro F1 {cv['mean_macro_f1']:.4f})"),
              flush=True)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "cv_report.json").write_text(json.dumps(cv, indent=2) + "\n")
        if args.cv_only or args.only_fold:
            return 0

    final_dir = work / "final"
    train(list(range(n_main)), _EpochCounter(), n_epochs, "epoch", final_dir)
    config = json.loads((final_dir / CONFIG_NAME).read_text())
    config.update({
        **base_config,
        "temperature": temperature,
        "cv": None if cv is None else {k: v for k, v in cv.items() if k not in ("pooled", "per_epoch")},
        "data": {"main": str(args.data), "extra": [str(p) for p in args.tess], "clips": len(all_clips)},
    })
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(final_dir / WEIGHTS_NAME, args.out / WEIGHTS_NAME)
    save_config(config, args.out)
    print(f"exported {args.out} ({n_epochs} epochs, temperature {temperature:.2f})", flush=True)
    return 0


def summarise_cv(scorers: list[ClipScorer], folds: list[list[str]]) -> dict[str, Any]:
    """Held-out figures at the last epoch (the full schedule the shipped model gets) and the temperature
    fitted on the pooled out-of-fold windows there; the best single epoch is reported for information."""
    n = min(len(s.epochs) for s in scorers)
    f1 = np.array([[s.epochs[e]["report"]["macro_f1"] for e in range(n)] for s in scorers])
    acc = np.array([[s.epochs[e]["report"]["accuracy"] for e in range(n)] for s in scorers])
    last = n - 1
    logits = np.concatenate([s.epochs[last]["logits"] for s in scorers])
    win_labels = np.concatenate([s.epochs[last]["window_labels"] for s in scorers])
    temperature = fit_voice_temperature(logits, win_labels)
    y_true = np.concatenate([s.labels for s in scorers])
    y_pred = np.concatenate([s.epochs[last]["preds"] for s in scorers])
    pooled = classification_report(y_true, y_pred, EMOTIONS)
    return {
        "folds": folds,
        "chosen_epochs": n,
        "temperature": temperature,
        "mean_accuracy": float(acc[:, last].mean()),
        "std_accuracy": float(acc[:, last].std()),
        "mean_macro_f1": float(f1[:, last].mean()),
        "std_macro_f1": float(f1[:, last].std()),
        "fold_accuracy": acc[:, last].tolist(),
        "fold_macro_f1": f1[:, last].tolist(),
        "best_epoch_mean_macro_f1": {"epoch": int(f1.mean(0).argmax()) + 1, "value": float(f1.mean(0).max())},
        "per_epoch": {"mean_macro_f1": f1.mean(0).tolist(), "mean_accuracy": acc.mean(0).tolist()},
        "pooled": pooled,
    }
