"""Score a Whisper-embedding voice model folder on labelled corpora under each session kind, from the cache.

    python -m training.voice_sessions --model assets/voice ../shared/data/{ravdess,tess,nemo,ased}

What ``emolive eval voice --session speaker clip mood`` measures (the same features, running normalisation,
heads and session plans), but reading the clips' embeddings from the training cache (training/voice_embed.py)
instead of embedding every clip again. Prints accuracy over all 7 classes (as the app answers) and over each
corpus's own classes, per corpus and session kind; ``--json`` prints one object.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emolive.core.labels import EMOTIONS
from emolive.voice.sessions import DEFAULT_MIN_CLIPS, SESSIONS, session_keys

log = logging.getLogger(__name__)


def score(model: Path, clips: list, min_clips: int = DEFAULT_MIN_CLIPS, seed: int = 0,
          threads: int = 1) -> dict[str, dict[str, float]]:
    """{session kind: {"all_classes", "own_classes", "n"}} of ``clips`` (one corpus) under a model folder."""
    from emolive.models.io import load_config
    from emolive.voice.heads import LinearHeads
    from emolive.voice.norm import NormSettings, norm_rank, running_standardise
    from emolive.voice.whisper_embed import pooled
    from training.voice_embed import clip_embeddings

    config = load_config(model)
    running = config.get("running_norm")
    settings = NormSettings.from_dict(running) if running is not None else None
    prosody_dim = int((config.get("prosody") or {}).get("dim", 0))
    head = LinearHeads(model, int(config["embedding_dim"]), len(EMOTIONS), str(config.get("embedding_norm", "none")),
                       prosody_dim, settings is not None, norm_rank(settings))
    kind = "whisper-base" if config.get("encoder") == "whisper-base" else "whisper"
    emb = pooled(clip_embeddings(clips, 0, threads, kind=kind), str(config.get("pooling", "mean+std")))
    prosody = clip_embeddings(clips, 0, threads, kind="prosody") if prosody_dim else None
    features = head.prepare(emb, prosody)
    y = np.array([c.label for c in clips])
    speakers = np.array([c.speaker for c in clips])
    own = sorted(set(y.tolist()))
    out: dict[str, dict[str, float]] = {}
    for kind in SESSIONS:
        keys, rows = session_keys(speakers, y, kind, min_clips)
        x = features[rows]
        if settings is not None:
            x = running_standardise(x, keys[rows], head.norm_mean, head.norm_var, settings, seed, head.norm_basis)
        logits, _ = head(x)
        masked = np.full_like(logits, -np.inf)
        masked[:, own] = logits[:, own]
        out[kind] = {"all_classes": float(np.mean(logits.argmax(1) == y[rows])),
                     "own_classes": float(np.mean(masked.argmax(1) == y[rows])), "n": int(rows.sum())}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from emolive.voice.data import find_clips

    p = argparse.ArgumentParser(prog="python -m training.voice_sessions", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", type=Path, nargs="+", help="labelled corpora (RAVDESS, TESS, nEMO, ASED trees)")
    p.add_argument("--model", type=Path, default=Path("assets/voice"))
    p.add_argument("--min-clips", type=int, default=DEFAULT_MIN_CLIPS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    report = {}
    for root in args.data:
        clips = [c for c in find_clips(root) if c.label is not None]
        report[root.name] = score(args.model, clips, args.min_clips, args.seed, args.threads)
        if not args.json:
            print(f"{root.name}: " + ", ".join(f"{k} {v['all_classes']:.3f} (own {v['own_classes']:.3f}, n {v['n']})"
                                               for k, v in report[root.name].items()), flush=True)
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
