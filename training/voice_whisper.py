"""Voice model on Whisper tiny.en encoder embeddings: linear heads fitted by scikit-learn, exported to torch.

Used by `python -m training voice --encoder whisper`. Embeddings are computed once per clip and cached;
speaker-independent CV (whole RAVDESS actors held out, extra corpora in training folds only) scores the
emotion head; the exported head folds the standardisation into its linear weights.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import numpy as np
import torch

from emolive.evaluation.metrics import classification_report, format_report
from emolive.labels import EMOTIONS
from emolive.modelio import save_model
from emolive.voice.cache import default_cache_dir
from emolive.voice.data import Clip
from emolive.voice.whisper_embed import ENCODER_NAME, EmbeddingHead, WhisperEmbedder

log = logging.getLogger(__name__)


def embeddings(clips: list[Clip], threads: int = 1) -> np.ndarray:
    """``[N, 768]`` Whisper embeddings of the clips, cached under the feature cache folder."""
    from tqdm import tqdm

    from emolive.audio_io import load_audio

    digest = hashlib.sha1(ENCODER_NAME.encode())
    for clip in clips:
        stat = clip.path.stat()
        digest.update(f"{clip.path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    path = default_cache_dir() / f"whisper_{digest.hexdigest()[:16]}.npy"
    if path.is_file():
        return np.load(path, allow_pickle=False)
    embedder = WhisperEmbedder(threads=threads)
    out = np.stack([embedder.embed(load_audio(c.path)) for c in tqdm(clips, desc="whisper", leave=False)])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    return out


def _fit(x: np.ndarray, y: np.ndarray, arousal: np.ndarray, c: float):
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    z = scaler.transform(x)
    clf = LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(z, y)
    reg = Ridge(alpha=100.0).fit(z, arousal)
    return scaler, clf, reg


def _to_head(scaler: Any, clf: Any, reg: Any) -> EmbeddingHead:
    """Fold ``(x - mean) / scale`` into the linear layers."""
    scale, mean = scaler.scale_, scaler.mean_
    head = EmbeddingHead(len(mean), len(EMOTIONS))
    w = np.zeros((len(EMOTIONS), len(mean)))
    b = np.zeros(len(EMOTIONS))
    w[clf.classes_] = clf.coef_ / scale
    b[clf.classes_] = clf.intercept_ - (clf.coef_ / scale) @ mean
    b[np.setdiff1d(np.arange(len(EMOTIONS)), clf.classes_)] = -1e4  # a class absent from training
    wa = reg.coef_ / scale
    with torch.no_grad():
        head.emotion.weight.copy_(torch.tensor(w, dtype=torch.float32))
        head.emotion.bias.copy_(torch.tensor(b, dtype=torch.float32))
        head.arousal.weight.copy_(torch.tensor(wa[None], dtype=torch.float32))
        head.arousal.bias.copy_(torch.tensor([reg.intercept_ - wa @ mean], dtype=torch.float32))
    return head.eval()


def train_whisper(args: Any, main_clips: list[Clip], extra_clips: list[Clip], folds: list[list[str]]) -> int:
    """CV on the main corpus by speaker, then fit on everything and export to ``args.out``."""
    from training.voice import fit_temperature

    x_main = embeddings(main_clips, args.threads)
    x_extra = embeddings(extra_clips, args.threads) if extra_clips else np.zeros((0, x_main.shape[1]), np.float32)
    y_main = np.array([c.label for c in main_clips])
    y_extra = np.array([c.label for c in extra_clips], dtype=int)
    a_main = np.array([c.arousal for c in main_clips])
    a_extra = np.array([c.arousal for c in extra_clips])
    speakers = np.array([c.speaker for c in main_clips])
    accs, f1s, maes, preds, logits = [], [], [], np.zeros(len(main_clips), int), np.zeros((len(main_clips), 7))
    for k, held in enumerate(folds):
        test = np.isin(speakers, held)
        scaler, clf, reg = _fit(np.concatenate([x_main[~test], x_extra]), np.concatenate([y_main[~test], y_extra]),
                                np.concatenate([a_main[~test], a_extra]), args.whisper_c)
        head = _to_head(scaler, clf, reg)
        with torch.no_grad():
            out, ar = head(torch.from_numpy(x_main[test]).float())
        logits[test] = out.numpy()
        preds[test] = out.argmax(1).numpy()
        report = classification_report(y_main[test], preds[test], EMOTIONS)
        accs.append(report["accuracy"])
        f1s.append(report["macro_f1"])
        maes.append(float(np.abs(ar.numpy() - a_main[test]).mean()))
        print(f"fold {k + 1}/{len(folds)} ({', '.join(held)}): accuracy {accs[-1]:.4f} macro F1 {f1s[-1]:.4f} "
              f"arousal MAE {maes[-1]:.3f}", flush=True)
    temperature = fit_temperature(logits, y_main)
    pooled = classification_report(y_main, preds, EMOTIONS)
    cv = {"folds": folds, "temperature": temperature, "mean_accuracy": float(np.mean(accs)),
          "std_accuracy": float(np.std(accs)), "mean_macro_f1": float(np.mean(f1s)),
          "std_macro_f1": float(np.std(f1s)), "fold_accuracy": accs, "fold_macro_f1": f1s,
          "mean_arousal_mae": float(np.mean(maes)), "pooled": pooled}
    print(format_report(pooled, f"held-out actors, {len(folds)} folds (mean acc {cv['mean_accuracy']:.4f}, "
                                f"mean macro F1 {cv['mean_macro_f1']:.4f})"), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cv_report.json").write_text(json.dumps(cv, indent=2) + "\n")
    if args.cv_only:
        return 0
    scaler, clf, reg = _fit(np.concatenate([x_main, x_extra]), np.concatenate([y_main, y_extra]),
                            np.concatenate([a_main, a_extra]), args.whisper_c)
    config = {
        "kind": "voice", "encoder": ENCODER_NAME, "embedding_dim": int(x_main.shape[1]),
        "labels": list(EMOTIONS), "temperature": temperature, "window_s": args.window_s,
        "scoring": {"min_speech": args.min_speech},
        "cv": {k: v for k, v in cv.items() if k != "pooled"},
        "training": {"C": args.whisper_c, "ridge_alpha": 100.0, "class_weight": "balanced"},
        "data": {"main": str(args.data), "extra": [str(p) for p in args.tess],
                 "clips": len(main_clips) + len(extra_clips)},
    }
    save_model(_to_head(scaler, clf, reg), config, args.out)
    print(f"exported {args.out} (Whisper embedding head, temperature {temperature:.2f})", flush=True)
    return 0
