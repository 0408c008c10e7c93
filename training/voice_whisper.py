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

from emolive.core.labels import EMOTIONS
from emolive.evaluation.metrics import classification_report, format_report
from emolive.models.io import save_model
from emolive.voice.data import Clip
from emolive.voice.norm import (
    NormSettings,
    emotion_basis,
    norm_rank,
    running_standardise,
    speaker_standardise,
    voice_basis,
    within_group_stats,
)
from emolive.voice.prosody import VERSION as PROSODY_VERSION
from emolive.voice.sessions import DEFAULT_MIN_CLIPS, session_keys
from emolive.voice.whisper_embed import ENCODER_NAME, EmbeddingHead, normalise_embedding, pooled
from training.voice_augment import AugmentSpec
from training.voice_embed import BASE_ENCODER_NAME, clip_embeddings

log = logging.getLogger(__name__)

RIDGE_ALPHA = 100.0


def embeddings(clips: list[Clip], threads: int = 1) -> np.ndarray:
    """``[N, 768]`` clean Whisper embeddings of the clips (cached per clip)."""
    return clip_embeddings(clips, 0, threads)


@dataclass
class Pool:
    """Every clip of every corpus: clean features, augmented copies, labels and grouping keys.

    ``x`` is the Whisper embedding, with the prosodic statistics appended when the pool was built with them
    (``n_embedding`` columns of embedding, the rest prosody).
    """

    x: np.ndarray  # [N, D]
    aug: list[np.ndarray]  # each [N, D]
    y: np.ndarray
    arousal: np.ndarray
    corpus: np.ndarray
    speaker: np.ndarray
    corpora: list[str] = field(default_factory=list)
    n_embedding: int = 0  # 0: every column is embedding
    windows: np.ndarray | None = None  # [N, D] one random live-sized window of each clip, scored, never trained on

    @classmethod
    def build(cls, clips: list[Clip], copies: int, threads: int, prosody: bool = False,
              pooling: str = "mean+std", spec: AugmentSpec | None = None,
              window_test_s: float = 0.0, encoder: str = "whisper") -> Pool:
        """``copies`` augmented copies per clip, made by ``spec`` (default: noise, reverb, gain, speed, band);
        with ``window_test_s``, also one random window of that length per clip for scoring only (the same
        windows as the first copy of ``--window-crops``, so two recipes are scored on the same audio).
        ``encoder``: the embedding kind of training.voice_embed ("whisper" tiny.en, "whisper-base")."""
        def variant(k: int, how: AugmentSpec | None = spec) -> np.ndarray:
            x = pooled(clip_embeddings(clips, k, threads, spec=how, kind=encoder), pooling)
            if prosody:
                x = np.concatenate([x, clip_embeddings(clips, k, threads, spec=how, kind="prosody")], axis=1)
            return x

        x = variant(0)
        n_embedding = (int(pooled(clip_embeddings(clips[:1], 0, threads, kind=encoder), pooling).shape[1])
                       if prosody else 0)
        corpus = np.array([c.corpus for c in clips])
        augs = [variant(k) for k in range(1, copies + 1)]
        window_spec = AugmentSpec.window_crop(window_test_s)
        windows = None
        if window_test_s > 0:  # the first --window-crops copy is already these windows: not loaded twice
            windows = augs[0] if augs and spec == window_spec else variant(1, window_spec)
        return cls(x, augs, np.array([c.label for c in clips], dtype=int),
                   np.array([c.arousal for c in clips], dtype=float), corpus,
                   np.array([c.speaker for c in clips]), list(dict.fromkeys(corpus.tolist())), n_embedding,
                   windows)


SPEAKER_NORMS = ("none", "speaker", "running")


@dataclass(frozen=True)
class Recipe:
    """How a head is fitted.

    ``speaker_norm``: "none"; "speaker" trains on features standardised by each training speaker's own
    statistics; "running" trains on features passed through the running normalisation per speaker (in a
    seeded random order). With either, held-out speakers are always normalised by the running statistics
    (emolive.voice.norm), speaker by speaker: what the live channel does within a session, no labels used.
    ``prosody_weight`` scales the standardised prosodic columns (a weaker L2 penalty on them).
    ``norm`` says how the running statistics move and what they take off (mode "full" or "voice").
    ``train_moods``: with "running", the clean training clips also pass through the running normalisation as
    one-mood sessions (each speaker's clips of one class in a row), so the heads see lasting moods as live.
    """

    c: float = 0.1
    embedding_norm: str = "none"
    prior_correction: bool = False
    speaker_norm: str = "none"
    prosody_weight: float = 1.0
    norm: NormSettings = field(default_factory=NormSettings)
    train_moods: bool = False

    @classmethod
    def from_args(cls, args: Any) -> Recipe:
        return cls(args.whisper_c, args.embedding_norm, bool(args.prior_correction),
                   getattr(args, "speaker_norm", "none"), float(getattr(args, "prosody_weight", 1.0)),
                   NormSettings(float(getattr(args, "norm_prior_weight", 20.0)),
                                float(getattr(args, "norm_memory", 200.0)), str(getattr(args, "norm_mode", "full")),
                                int(getattr(args, "norm_rank", 0))),
                   bool(getattr(args, "train_moods", False)))

    def to_dict(self) -> dict[str, Any]:
        return {"C": self.c, "embedding_norm": self.embedding_norm, "prior_correction": self.prior_correction,
                "speaker_norm": self.speaker_norm, "prosody_weight": self.prosody_weight,
                "running_norm": self.norm.to_dict(), "train_moods": self.train_moods}


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
    """A fitted head: scaler, classifier and arousal regressor (scikit-learn), the prior correction and the
    running normalisation's starting statistics."""

    scaler: Any
    clf: Any
    reg: Any
    norm: str
    bias: np.ndarray  # added to the logits of EMOTIONS (class-prior correction; zeros when off)
    n_embedding: int = 0  # columns of embedding (the rest: prosody); 0: all
    speaker_norm: str = "none"
    norm_mean: np.ndarray | None = None
    norm_var: np.ndarray | None = None
    settings: NormSettings = field(default_factory=NormSettings)
    prosody_weight: float = 1.0
    basis: tuple[np.ndarray, np.ndarray] | None = None  # the voice/room directions (NormSettings mode "voice")

    def prepare(self, x: np.ndarray) -> np.ndarray:
        """Per-utterance embedding normalisation of the embedding columns (prosody passes through)."""
        n = self.n_embedding or x.shape[1]
        return np.concatenate([normalise_embedding(x[:, :n], self.norm), x[:, n:]], axis=1)

    def inputs(self, x: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
        """Head inputs of test clips: prepared, then (with a speaker normalisation) passed through the running
        statistics speaker by speaker (``groups``)."""
        f = self.prepare(x)
        if self.speaker_norm != "none":
            if groups is None:
                raise ValueError("a speaker-normalised head needs the speaker of every clip")
            f = running_standardise(f, groups, self.norm_mean, self.norm_var, self.settings, basis=self.basis)
        return f

    def z(self, f: np.ndarray) -> np.ndarray:
        z = self.scaler.transform(f)
        if self.n_embedding:
            z[:, self.n_embedding:] *= self.prosody_weight
        return z

    def logits_of(self, z: np.ndarray) -> np.ndarray:
        out = np.full((len(z), len(EMOTIONS)), -1e4)
        out[:, self.clf.classes_] = self.clf.decision_function(z)
        return out + self.bias

    def logits(self, x: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
        return self.logits_of(self.z(self.inputs(x, groups)))

    def arousal(self, x: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
        return np.clip(self.reg.predict(self.z(self.inputs(x, groups))), 0.0, 1.0)


def fit_head(pool: Pool, train: np.ndarray, recipe: Recipe) -> HeadFit:
    """Fit the heads on the training clips ``train`` (boolean mask) and their augmented copies."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    if recipe.speaker_norm not in SPEAKER_NORMS:
        raise ValueError(f"unknown speaker normalisation {recipe.speaker_norm!r}")
    head = HeadFit(None, None, None, recipe.embedding_norm, np.zeros(len(EMOTIONS)), pool.n_embedding,
                   recipe.speaker_norm, settings=recipe.norm, prosody_weight=recipe.prosody_weight)
    speakers = pool.speaker[train]
    parts = [head.prepare(v[train]) for v in (pool.x, *pool.aug)]
    if recipe.speaker_norm != "none":
        head.norm_mean, head.norm_var = within_group_stats(parts[0], speakers)
        if recipe.norm.mode != "full":
            z = (parts[0] - head.norm_mean) / np.sqrt(head.norm_var + 1e-6)
            corpus = pool.corpus[train]
            per_corpus = {c: len(set(speakers[corpus == c].tolist())) for c in set(corpus.tolist())}
            weights = {str(s): 1.0 / per_corpus[c] for s, c in zip(speakers, corpus, strict=True)}
            basis = voice_basis if recipe.norm.mode == "voice" else emotion_basis
            head.basis = basis(z, speakers, pool.y[train], recipe.norm.rank, weights)
    if recipe.speaker_norm == "speaker":
        parts = [speaker_standardise(p, speakers) for p in parts]
    elif recipe.speaker_norm == "running":
        clean = parts[0]
        parts = [running_standardise(p, speakers, head.norm_mean, head.norm_var, recipe.norm, seed=k,
                                     basis=head.basis) for k, p in enumerate(parts)]
        if recipe.train_moods:
            moods, _ = session_keys(speakers, pool.y[train], "mood")
            parts.append(running_standardise(clean, moods, head.norm_mean, head.norm_var, recipe.norm,
                                             seed=len(parts), basis=head.basis))
    reps = len(parts)
    x = np.concatenate(parts)
    y = np.tile(pool.y[train], reps)
    w = np.tile(sample_weights(pool.y[train], pool.corpus[train]), reps)
    arousal = np.tile(pool.arousal[train], reps)
    head.scaler = StandardScaler().fit(x)
    z = head.z(x)
    head.clf = LogisticRegression(C=recipe.c, max_iter=2000).fit(z, y, sample_weight=w)
    head.reg = Ridge(alpha=RIDGE_ALPHA).fit(z, arousal, sample_weight=w)
    if recipe.prior_correction:
        n = int(train.sum())
        head.bias = prior_bias(head.logits_of(z[:n]), w[:n])
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
    """Fold the standardisation, prosody weight and prior correction into torch linear layers."""
    scale, mean = fit.scaler.scale_.copy(), fit.scaler.mean_
    if fit.n_embedding:
        scale[fit.n_embedding:] /= fit.prosody_weight
    n_embedding = fit.n_embedding or len(mean)
    head = EmbeddingHead(n_embedding, len(EMOTIONS), norm=fit.norm, prosody_dim=len(mean) - n_embedding,
                         running=fit.speaker_norm != "none",
                         norm_rank=norm_rank(fit.settings) if fit.speaker_norm != "none" else 0)
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
        if head.running:
            head.norm_mean.copy_(torch.tensor(fit.norm_mean, dtype=torch.float32))
            head.norm_var.copy_(torch.tensor(fit.norm_var, dtype=torch.float32))
            if head.norm_rank:
                head.norm_left.copy_(torch.tensor(fit.basis[0], dtype=torch.float32))
                head.norm_right.copy_(torch.tensor(fit.basis[1], dtype=torch.float32))
    return head.eval()


def session_accuracy(head: HeadFit, x: np.ndarray, speakers: np.ndarray, y: np.ndarray, own: bool = False,
                     min_clips: int = DEFAULT_MIN_CLIPS) -> dict[str, float]:
    """Accuracy of held-out clips ``x`` under each session kind (emolive.voice.sessions): ``clip`` (each clip
    from the starting statistics) and ``mood`` (one speaker's clips of one class in a row, pairs with at least
    ``min_clips`` clips); ``own``: over the classes present in ``y`` only (the others masked)."""
    out: dict[str, float] = {}
    for kind in ("clip", "mood"):
        keys, rows = session_keys(speakers, y, kind, min_clips)
        if not rows.any():
            continue
        logits = head.logits(x[rows], keys[rows])
        if own:
            masked = np.full_like(logits, -np.inf)
            present = sorted(set(y.tolist()))
            masked[:, present] = logits[:, present]
            logits = masked
        out[kind] = float(np.mean(logits.argmax(1) == y[rows]))
    return out


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
        head = fit_head(pool, ~test, Recipe.from_args(args))
        groups = pool.speaker[test]
        logits = head.logits(pool.x[test], groups)
        rep = corpus_report(pool.y[test], logits)
        rep["arousal_mae"] = float(np.abs(head.arousal(pool.x[test], groups) - pool.arousal[test]).mean())
        if pool.aug:  # the same left-out clips with their first augmented copy (noise, reverb, ...)
            rep["augmented_test"] = corpus_report(pool.y[test], head.logits(pool.aug[0][test], groups))[
                "own_classes"]
        if pool.windows is not None:  # one live-sized window of each left-out clip
            rep["windows"] = corpus_report(pool.y[test], head.logits(pool.windows[test], groups))["own_classes"]
        if head.speaker_norm != "none":
            rep["sessions"] = {"speaker": rep["own_classes"]["accuracy"],
                               **session_accuracy(head, pool.x[test], groups, pool.y[test], own=True)}
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
    if all("sessions" in results[n] for n in pool.corpora):
        summary["sessions"] = {k: float(np.mean([results[n]["sessions"][k] for n in pool.corpora]))
                               for k in ("speaker", "clip", "mood")
                               if all(k in results[n]["sessions"] for n in pool.corpora)}
        print("leave-one-corpus-out by session kind: " + ", ".join(f"{k} {v:.4f}" for k, v in
                                                                  summary["sessions"].items()), flush=True)
    if pool.windows is not None:
        summary["mean_accuracy_windows"] = float(np.mean([results[n]["windows"]["accuracy"] for n in pool.corpora]))
        print(f"leave-one-corpus-out on one {args.window_s:g} s window per clip: mean accuracy "
              f"{summary['mean_accuracy_windows']:.4f}", flush=True)
    print(f"leave-one-corpus-out: mean accuracy {summary['mean_accuracy']:.4f} (all 7: "
          f"{summary['mean_accuracy_all_classes']:.4f}), mean macro F1 {summary['mean_macro_f1']:.4f}, "
          f"largest top-class share {summary['max_top_class_share']:.2f}", flush=True)
    return summary, np.concatenate(all_logits), np.concatenate(all_y)


def speaker_folds(pool: Pool, corpus: str, folds: list[list[str]], args: Any) -> dict[str, Any]:
    """Held-out speakers of one corpus, fold by fold (everything else in training)."""
    accs, f1s, maes, window_accs = [], [], [], []
    session_hits: dict[str, list[float]] = {"clip": [], "mood": []}
    in_corpus = pool.corpus == corpus
    logits = np.zeros((int(in_corpus.sum()), len(EMOTIONS)))
    speakers = pool.speaker[in_corpus]
    for k, held in enumerate(folds):
        test = in_corpus & np.isin(pool.speaker, held)
        head = fit_head(pool, ~test, Recipe.from_args(args))
        out = head.logits(pool.x[test], pool.speaker[test])
        logits[np.isin(speakers, held)] = out
        report = classification_report(pool.y[test], out.argmax(1), EMOTIONS)
        accs.append(report["accuracy"])
        f1s.append(report["macro_f1"])
        maes.append(float(np.abs(head.arousal(pool.x[test], pool.speaker[test]) - pool.arousal[test]).mean()))
        if head.speaker_norm != "none":
            for kind, acc in session_accuracy(head, pool.x[test], pool.speaker[test], pool.y[test]).items():
                session_hits[kind].append(acc)
        windows = ""
        if pool.windows is not None:
            window_pred = head.logits(pool.windows[test], pool.speaker[test]).argmax(1)
            window_accs.append(float(np.mean(window_pred == pool.y[test])))
            windows = f", on {args.window_s:g} s windows {window_accs[-1]:.4f}"
        print(f"{corpus} fold {k + 1}/{len(folds)} ({', '.join(held)}): accuracy {accs[-1]:.4f} macro F1 "
              f"{f1s[-1]:.4f} arousal MAE {maes[-1]:.3f}{windows}", flush=True)
    y = pool.y[in_corpus]
    pooled = classification_report(y, logits.argmax(1), EMOTIONS)
    out = {"folds": folds, "mean_accuracy": float(np.mean(accs)), "std_accuracy": float(np.std(accs)),
           "mean_macro_f1": float(np.mean(f1s)), "std_macro_f1": float(np.std(f1s)), "fold_accuracy": accs,
           "fold_macro_f1": f1s, "mean_arousal_mae": float(np.mean(maes)), "pooled": pooled,
           "_logits": logits, "_y": y}
    if window_accs:
        out.update(window_fold_accuracy=window_accs, mean_window_accuracy=float(np.mean(window_accs)))
    if session_hits["clip"]:
        out["sessions"] = {"speaker": out["mean_accuracy"],
                           **{k: float(np.mean(v)) for k, v in session_hits.items() if v}}
        print(f"{corpus} held-out speakers by session kind: " + ", ".join(
            f"{k} {v:.4f}" for k, v in out["sessions"].items()), flush=True)
    return out


def group_folds(speakers: list[str], n: int) -> list[list[str]]:
    """``n`` folds of consecutive sorted speakers (at most one fold per speaker)."""
    ordered = sorted(set(speakers))
    return [list(part) for part in np.array_split(np.array(ordered), min(n, len(ordered)))]


def train_whisper(args: Any, main_clips: list[Clip], extra_clips: list[Clip], folds: list[list[str]]) -> int:
    """CV by speaker (and by corpus), then fit on everything and export to ``args.out``."""
    from training.calibration import fit_voice_temperature

    pooling = getattr(args, "pooling", "mean+std")
    crops = bool(getattr(args, "window_crops", False))
    spec = AugmentSpec.window_crop(args.window_s) if crops else None
    window_test_s = args.window_s if getattr(args, "window_test", False) else 0.0
    encoder = "whisper-base" if getattr(args, "encoder", "whisper") == "whisper-base" else "whisper"
    pool = Pool.build(main_clips + extra_clips, args.aug_copies, args.threads, bool(getattr(args, "prosody", False)),
                      pooling, spec, window_test_s, encoder)
    main_corpus = main_clips[0].corpus
    log.info("pool: %s", dict(Counter(pool.corpus.tolist())))
    report: dict[str, Any] = {}
    held = speaker_folds(pool, main_corpus, folds, args)
    cv = {k: v for k, v in held.items() if not k.startswith("_")}
    print(format_report(held["pooled"], f"held-out {main_corpus} speakers, {len(folds)} folds (mean acc "
                                        f"{cv['mean_accuracy']:.4f}, mean macro F1 {cv['mean_macro_f1']:.4f})"),
          flush=True)
    if "mean_window_accuracy" in cv:
        print(f"held-out {main_corpus} speakers on one {args.window_s:g} s window per clip: mean accuracy "
              f"{cv['mean_window_accuracy']:.4f}", flush=True)
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
    temperature = fit_voice_temperature(calib_logits, calib_y)
    cv["temperature"] = temperature
    recipe = Recipe.from_args(args)
    settings = {**recipe.to_dict(), "ridge_alpha": RIDGE_ALPHA, "weights": "corpus- and class-balanced",
                "aug_copies": args.aug_copies, "window_crops": crops, "prosody": bool(pool.n_embedding),
                "pooling": pooling}
    report = {"cv": cv, **report, "training": settings, "pool": dict(Counter(pool.corpus.tolist()))}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cv_report.json").write_text(json.dumps(report, indent=2) + "\n")
    if args.cv_only:
        return 0
    final = fit_head(pool, np.ones(len(pool.y), bool), recipe)
    n_embedding = pool.n_embedding or int(pool.x.shape[1])
    config = {
        "kind": "voice", "encoder": ENCODER_NAME if encoder == "whisper" else BASE_ENCODER_NAME,
        "embedding_dim": n_embedding,
        "embedding_norm": args.embedding_norm, "pooling": pooling,
        "prosody": ({"dim": int(pool.x.shape[1]) - n_embedding, "version": PROSODY_VERSION}
                    if pool.n_embedding else None),
        "running_norm": recipe.norm.to_dict() if recipe.speaker_norm != "none" else None,
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
