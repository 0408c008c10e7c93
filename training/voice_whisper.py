"""Voice model on Whisper tiny.en encoder embeddings: linear heads fitted by scikit-learn, exported to torch.

Used by `python -m training voice --encoder whisper`. Every corpus given (``--data`` and each ``--tess``) joins
one pool with one label map (a class a corpus lacks is absent from it). Embeddings are computed once per clip
and cached (training/voice_embed.py), clean and ``--aug-copies`` augmented copies; augmented copies only ever
join the training side. Training weights balance corpora (each corpus the same total weight) and, within each,
classes; then the classes are balanced over the pool.

Figures (all speaker-disjoint):
- held-out actors of the ``--data`` corpus (``--folds`` folds of consecutive actors, RAVDESS 01-04, 05-08, ...),
  every other corpus in training;
- ``--leave-one-corpus-out``: for each corpus, train on the others and test on it, reported on the classes the
  left-out corpus has (the other classes masked out) and over all 7 (what the app would say), with its confusion
  matrix and the share of its most-predicted class;
- ``--speaker-folds N``: within each other corpus, N folds of whole speakers (that corpus's other speakers and
  every other corpus in training).
The softmax temperature is fitted (training.calibration) on the pooled out-of-fold logits of the
leave-one-corpus-out runs when they ran (unseen recording conditions, as in use), else of the actor folds.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from emolive.evaluation.metrics import classification_report, format_report
from emolive.labels import EMOTIONS
from emolive.modelio import save_model
from emolive.voice.data import Clip
from emolive.voice.whisper_embed import ENCODER_NAME, EmbeddingHead, normalise_embedding
from training.voice_embed import clip_embeddings

log = logging.getLogger(__name__)

RIDGE_ALPHA = 100.0


def embeddings(clips: list[Clip], threads: int = 1) -> np.ndarray:
    """``[N, 768]`` clean Whisper embeddings of the clips (cached per clip)."""
    return clip_embeddings(clips, 0, threads)


@dataclass
class Pool:
    """Every clip of every corpus: clean embeddings, augmented copies, labels and grouping keys."""

    x: np.ndarray  # [N, 768]
    aug: list[np.ndarray]  # each [N, 768]
    y: np.ndarray
    arousal: np.ndarray
    corpus: np.ndarray
    speaker: np.ndarray
    corpora: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, clips: list[Clip], copies: int, threads: int) -> Pool:
        x = clip_embeddings(clips, 0, threads)
        aug = [clip_embeddings(clips, k, threads) for k in range(1, copies + 1)]
        corpus = np.array([c.corpus for c in clips])
        return cls(x, aug, np.array([c.label for c in clips], dtype=int),
                   np.array([c.arousal for c in clips], dtype=float), corpus,
                   np.array([c.speaker for c in clips]), list(dict.fromkeys(corpus.tolist())))


def sample_weights(y: np.ndarray, corpus: np.ndarray) -> np.ndarray:
    """Weights that give every corpus the same total, every class within a corpus the same share, then every
    class the same total over the pool. Mean 1."""
    w = np.zeros(len(y), dtype=float)
    corpora = sorted(set(corpus.tolist()))
    for name in corpora:
        in_corpus = corpus == name
        classes = sorted(set(y[in_corpus].tolist()))
        for k in classes:
            sel = in_corpus & (y == k)
            w[sel] = 1.0 / (len(corpora) * len(classes) * sel.sum())
    classes = sorted(set(y.tolist()))
    for k in classes:
        w[y == k] *= 1.0 / (len(classes) * w[y == k].sum())
    return w * len(y) / w.sum()


@dataclass
class HeadFit:
    """A fitted head: scaler, classifier and arousal regressor (scikit-learn) plus the prior correction."""

    scaler: Any
    clf: Any
    reg: Any
    norm: str
    bias: np.ndarray  # added to the logits of EMOTIONS (class-prior correction; zeros when off)

    def logits(self, x: np.ndarray) -> np.ndarray:
        z = self.scaler.transform(normalise_embedding(x, self.norm))
        out = np.full((len(x), len(EMOTIONS)), -1e4)
        out[:, self.clf.classes_] = self.clf.decision_function(z)
        return out + self.bias

    def arousal(self, x: np.ndarray) -> np.ndarray:
        return np.clip(self.reg.predict(self.scaler.transform(normalise_embedding(x, self.norm))), 0.0, 1.0)


def fit_head(pool: Pool, train: np.ndarray, c: float, norm: str = "none", prior_correction: bool = False) -> HeadFit:
    """Fit the heads on the training clips ``train`` (boolean mask) and their augmented copies."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate([pool.x[train], *(a[train] for a in pool.aug)])
    x = normalise_embedding(x, norm)
    reps = 1 + len(pool.aug)
    y = np.tile(pool.y[train], reps)
    w = np.tile(sample_weights(pool.y[train], pool.corpus[train]), reps)
    arousal = np.tile(pool.arousal[train], reps)
    scaler = StandardScaler().fit(x)
    z = scaler.transform(x)
    clf = LogisticRegression(C=c, max_iter=2000).fit(z, y, sample_weight=w)
    reg = Ridge(alpha=RIDGE_ALPHA).fit(z, arousal, sample_weight=w)
    head = HeadFit(scaler, clf, reg, norm, np.zeros(len(EMOTIONS)))
    if prior_correction:
        head.bias = prior_bias(head.logits(pool.x[train]), w[: train.sum()])
    return head


def prior_bias(logits: np.ndarray, weights: np.ndarray, steps: int = 50) -> np.ndarray:
    """Logit offsets that make the weighted mean predicted probability of every trained class equal (so no
    class wins by default on the training pool's own clean clips)."""
    present = logits.max(0) > -1e3
    bias = np.zeros(logits.shape[1])
    w = weights / weights.sum()
    for _ in range(steps):
        z = logits + bias
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        share = (p * w[:, None]).sum(0)
        bias[present] += 0.5 * (np.log(1.0 / present.sum()) - np.log(share[present] + 1e-12))
    return bias


def to_head(fit: HeadFit) -> EmbeddingHead:
    """Fold ``(norm(x) - mean) / scale`` and the prior correction into torch linear layers."""
    scale, mean = fit.scaler.scale_, fit.scaler.mean_
    head = EmbeddingHead(len(mean), len(EMOTIONS), norm=fit.norm)
    w = np.zeros((len(EMOTIONS), len(mean)))
    b = np.full(len(EMOTIONS), -1e4)  # a class absent from training
    w[fit.clf.classes_] = fit.clf.coef_ / scale
    b[fit.clf.classes_] = fit.clf.intercept_ - (fit.clf.coef_ / scale) @ mean + fit.bias[fit.clf.classes_]
    wa = fit.reg.coef_ / scale
    with torch.no_grad():
        head.emotion.weight.copy_(torch.tensor(w, dtype=torch.float32))
        head.emotion.bias.copy_(torch.tensor(b, dtype=torch.float32))
        head.arousal.weight.copy_(torch.tensor(wa[None], dtype=torch.float32))
        head.arousal.bias.copy_(torch.tensor([fit.reg.intercept_ - wa @ mean], dtype=torch.float32))
    return head.eval()


def corpus_report(y: np.ndarray, logits: np.ndarray) -> dict[str, Any]:
    """Figures on one test set: over its own classes (others masked) and over all 7, with the most-predicted
    class's share of the predictions."""
    own = sorted(set(y.tolist()))
    masked = np.full_like(logits, -np.inf)
    masked[:, own] = logits[:, own]
    out: dict[str, Any] = {"classes": [EMOTIONS[k] for k in own]}
    for name, z in (("own_classes", masked), ("all_classes", logits)):
        pred = z.argmax(1)
        report = classification_report(y, pred, EMOTIONS)
        top, count = Counter(pred.tolist()).most_common(1)[0]
        report["top_class"] = {"label": EMOTIONS[top], "share": count / len(pred)}
        out[name] = report
    return out


def _summary_line(name: str, rep: dict[str, Any]) -> str:
    own, full = rep["own_classes"], rep["all_classes"]
    return (f"{name}: own classes ({len(rep['classes'])}) accuracy {own['accuracy']:.4f} macro F1 "
            f"{own['macro_f1']:.4f} top {own['top_class']['label']} {own['top_class']['share']:.2f} | all 7: "
            f"accuracy {full['accuracy']:.4f} top {full['top_class']['label']} {full['top_class']['share']:.2f}")


def leave_one_corpus_out(pool: Pool, args: Any) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Train on all corpora but one, test on it, for each; returns (report, OOF logits, their labels)."""
    results: dict[str, Any] = {}
    all_logits, all_y = [], []
    for name in pool.corpora:
        test = pool.corpus == name
        head = fit_head(pool, ~test, args.whisper_c, args.embedding_norm, args.prior_correction)
        logits = head.logits(pool.x[test])
        rep = corpus_report(pool.y[test], logits)
        rep["arousal_mae"] = float(np.abs(head.arousal(pool.x[test]) - pool.arousal[test]).mean())
        if pool.aug:  # the same left-out clips with their first augmented copy (noise, reverb, ...)
            rep["augmented_test"] = corpus_report(pool.y[test], head.logits(pool.aug[0][test]))["own_classes"]
        results[name] = rep
        all_logits.append(logits)
        all_y.append(pool.y[test])
        print(_summary_line(f"leave out {name}", rep), flush=True)
    own = [results[n]["own_classes"] for n in pool.corpora]
    summary = {
        "corpora": results,
        "mean_accuracy": float(np.mean([r["accuracy"] for r in own])),
        "mean_macro_f1": float(np.mean([r["macro_f1"] for r in own])),
        "mean_accuracy_all_classes": float(np.mean([results[n]["all_classes"]["accuracy"] for n in pool.corpora])),
        "max_top_class_share": float(max(r["top_class"]["share"] for r in own)),
    }
    if pool.aug:
        summary["mean_accuracy_augmented_test"] = float(np.mean([results[n]["augmented_test"]["accuracy"]
                                                                 for n in pool.corpora]))
    print(f"leave-one-corpus-out: mean accuracy {summary['mean_accuracy']:.4f} (all 7: "
          f"{summary['mean_accuracy_all_classes']:.4f}), mean macro F1 {summary['mean_macro_f1']:.4f}, "
          f"largest top-class share {summary['max_top_class_share']:.2f}", flush=True)
    return summary, np.concatenate(all_logits), np.concatenate(all_y)


def speaker_folds(pool: Pool, corpus: str, folds: list[list[str]], args: Any) -> dict[str, Any]:
    """Held-out speakers of one corpus, fold by fold (everything else in training)."""
    accs, f1s, maes = [], [], []
    in_corpus = pool.corpus == corpus
    logits = np.zeros((int(in_corpus.sum()), len(EMOTIONS)))
    speakers = pool.speaker[in_corpus]
    for k, held in enumerate(folds):
        test = in_corpus & np.isin(pool.speaker, held)
        head = fit_head(pool, ~test, args.whisper_c, args.embedding_norm, args.prior_correction)
        out = head.logits(pool.x[test])
        logits[np.isin(speakers, held)] = out
        report = classification_report(pool.y[test], out.argmax(1), EMOTIONS)
        accs.append(report["accuracy"])
        f1s.append(report["macro_f1"])
        maes.append(float(np.abs(head.arousal(pool.x[test]) - pool.arousal[test]).mean()))
        print(f"{corpus} fold {k + 1}/{len(folds)} ({', '.join(held)}): accuracy {accs[-1]:.4f} macro F1 "
              f"{f1s[-1]:.4f} arousal MAE {maes[-1]:.3f}", flush=True)
    y = pool.y[in_corpus]
    pooled = classification_report(y, logits.argmax(1), EMOTIONS)
    return {"folds": folds, "mean_accuracy": float(np.mean(accs)), "std_accuracy": float(np.std(accs)),
            "mean_macro_f1": float(np.mean(f1s)), "std_macro_f1": float(np.std(f1s)), "fold_accuracy": accs,
            "fold_macro_f1": f1s, "mean_arousal_mae": float(np.mean(maes)), "pooled": pooled,
            "_logits": logits, "_y": y}


def group_folds(speakers: list[str], n: int) -> list[list[str]]:
    """``n`` folds of consecutive sorted speakers (at most one fold per speaker)."""
    ordered = sorted(set(speakers))
    return [list(part) for part in np.array_split(np.array(ordered), min(n, len(ordered)))]


def train_whisper(args: Any, main_clips: list[Clip], extra_clips: list[Clip], folds: list[list[str]]) -> int:
    """CV by speaker (and by corpus), then fit on everything and export to ``args.out``."""
    from training.voice import fit_temperature

    pool = Pool.build(main_clips + extra_clips, args.aug_copies, args.threads)
    main_corpus = main_clips[0].corpus
    log.info("pool: %s", dict(Counter(pool.corpus.tolist())))
    report: dict[str, Any] = {}
    held = speaker_folds(pool, main_corpus, folds, args)
    cv = {k: v for k, v in held.items() if not k.startswith("_")}
    print(format_report(held["pooled"], f"held-out {main_corpus} speakers, {len(folds)} folds (mean acc "
                                        f"{cv['mean_accuracy']:.4f}, mean macro F1 {cv['mean_macro_f1']:.4f})"),
          flush=True)
    calib_logits, calib_y = held["_logits"], held["_y"]
    if args.speaker_folds:
        report["speaker_folds"] = {}
        for name in pool.corpora:
            if name == main_corpus:
                continue
            spk = pool.speaker[pool.corpus == name].tolist()
            res = speaker_folds(pool, name, group_folds(spk, args.speaker_folds), args)
            report["speaker_folds"][name] = {k: v for k, v in res.items() if not k.startswith("_")}
            print(f"{name}: held-out speakers mean accuracy {res['mean_accuracy']:.4f}", flush=True)
    if args.leave_one_corpus_out and len(pool.corpora) > 1:
        report["leave_one_corpus_out"], calib_logits, calib_y = leave_one_corpus_out(pool, args)
    temperature = fit_temperature(calib_logits, calib_y)
    cv["temperature"] = temperature
    settings = {"C": args.whisper_c, "ridge_alpha": RIDGE_ALPHA, "weights": "corpus- and class-balanced",
                "embedding_norm": args.embedding_norm, "prior_correction": bool(args.prior_correction),
                "aug_copies": args.aug_copies}
    report = {"cv": cv, **report, "training": settings, "pool": dict(Counter(pool.corpus.tolist()))}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cv_report.json").write_text(json.dumps(report, indent=2) + "\n")
    if args.cv_only:
        return 0
    final = fit_head(pool, np.ones(len(pool.y), bool), args.whisper_c, args.embedding_norm, args.prior_correction)
    config = {
        "kind": "voice", "encoder": ENCODER_NAME, "embedding_dim": int(pool.x.shape[1]),
        "embedding_norm": args.embedding_norm,
        "labels": list(EMOTIONS), "temperature": temperature, "window_s": args.window_s,
        "scoring": {"min_speech": args.min_speech},
        "cv": {k: v for k, v in cv.items() if k != "pooled"},
        "leave_one_corpus_out": {k: v for k, v in report.get("leave_one_corpus_out", {}).items() if k != "corpora"},
        "training": settings,
        "data": {"main": str(args.data), "extra": [str(p) for p in args.tess], "clips": int(len(pool.y)),
                 "corpora": report["pool"]},
    }
    save_model(to_head(final), config, args.out)
    print(f"exported {args.out} (Whisper embedding head, temperature {temperature:.2f})", flush=True)
    return 0
