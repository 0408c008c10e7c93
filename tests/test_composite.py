"""Composite samples: the realistic words mode (own neutral words, a minority of emotional utterances, none)."""

from __future__ import annotations

import numpy as np
import pytest

from emolive.core.labels import EMOTIONS
from emolive.evaluation.composite import RAVDESS_STATEMENTS, Pool, draw, present, spoken_words
from emolive.fusion.late import MODALITIES, TrustPolicy

NEUTRAL = EMOTIONS.index("neutral")


def _pool(n_per_class: int, accuracy: float, seed: int, words: bool = False) -> Pool:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(EMOTIONS)), n_per_class)
    probs = np.full((len(labels), len(EMOTIONS)), 0.05)
    for i, c in enumerate(labels):
        top = c if rng.random() < accuracy else rng.integers(len(EMOTIONS))
        probs[i, top] = 0.7
    probs /= probs.sum(axis=1, keepdims=True)
    said = np.array([RAVDESS_STATEMENTS[1 + i % 2] for i in range(len(labels))]) if words else None
    return Pool(probs, labels, np.array([f"g{i % 5}" for i in range(len(labels))]), said)


def test_realistic_words_mode_shares_and_trust():
    pools = {"face": _pool(20, 0.6, 0), "voice": _pool(20, 0.7, 1, words=True), "text": _pool(20, 0.5, 2)}
    neutral_words = np.full(len(EMOTIONS), 0.02)
    neutral_words[NEUTRAL] = 0.88
    own = {s: neutral_words for s in RAVDESS_STATEMENTS.values()}
    shares = {"own_words": 0.6, "emotional": 0.25, "none": 0.15}
    x, trust, y = draw(pools, 4000, seed=3, text="realistic", own_words=own, shares=shares)
    j = MODALITIES.index("text")
    own_rows = np.isclose(x[:, j, NEUTRAL], np.log(neutral_words[NEUTRAL] / neutral_words.sum()))
    none_rows = ~present(x, "text")
    assert own_rows.mean() == pytest.approx(0.6, abs=0.03)
    assert none_rows.mean() == pytest.approx(0.15, abs=0.03)
    # neutral words are hardly trusted, emotional utterances are
    emotional = ~own_rows & ~none_rows
    assert (trust[none_rows, j] == 0).all()
    assert trust[own_rows, j].max() < 0.2 < trust[emotional, j].mean()
    # matched mode: every composite has words of its own label's pool
    mx, _, _ = draw(pools, 500, seed=3, text="matched")
    assert present(mx, "text").all()
    # the gate is the only difference between the two policies
    _, ungated, _ = draw(pools, 4000, seed=3, text="realistic", own_words=own, shares=shares,
                         policy=TrustPolicy(text_emotional_gate=False))
    assert np.allclose(ungated[:, :2], trust[:, :2]) and (ungated[own_rows, j] > 3 * trust[own_rows, j]).all()
    assert set(np.unique(y)) == set(range(len(EMOTIONS)))


def test_spoken_words_from_file_names():
    assert spoken_words("03-01-05-01-02-01-17.flac") == "Dogs are sitting by the door"
    assert spoken_words("tess/angry/OAF_back.opus") == "Say the word back"


def test_a_pool_prior_is_divided_out_of_its_composites_and_survives_a_split():
    """A face pool whose every reading is its own prior gives uniform evidence in the composites; trust (certainty)
    is still read from the channel's own probabilities."""
    from dataclasses import replace

    prior = np.array([0.176, 0.261, 0.170, 0.136, 0.139, 0.014, 0.104])
    face = replace(_pool(20, 0.6, 0), probs=np.tile(prior, (140, 1)), prior=tuple(prior))
    pools = {"face": face, "voice": _pool(20, 0.7, 1)}
    x, trust, _ = draw(pools, 200, seed=0)
    j = MODALITIES.index("face")
    assert np.allclose(x[:, j], np.log(1 / len(EMOTIONS)), atol=1e-5)
    assert np.allclose(trust[:, j], TrustPolicy.certainty(prior))
    train, held = face.split(0.5)
    assert train.prior == held.prior == tuple(prior)
    plain, _, _ = draw({"face": replace(face, prior=None), "voice": pools["voice"]}, 200, seed=0)
    assert np.allclose(plain[:, j], np.log(prior / prior.sum()))
