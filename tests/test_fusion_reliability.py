"""Fusion reliability: a channel unlike its training data or disagreeing for seconds is discounted, with a reason."""

from __future__ import annotations

import numpy as np

from emolive.core.contracts import EmotionEstimate, ModalityOutput
from emolive.core.labels import EMOTIONS
from emolive.fusion.fuser import Fuser
from emolive.fusion.reliability import ReliabilityPolicy

HOP = 0.1


def probs(top: str, p: float) -> tuple[float, ...]:
    rest = (1.0 - p) / (len(EMOTIONS) - 1)
    return tuple(p if e == top else rest for e in EMOTIONS)


def run(fuser: Fuser, face: tuple[float, ...], voice: tuple[float, ...], seconds: float):
    """Fuse a steady face and voice every hop for ``seconds``; every step's output."""
    out = []
    for k in range(int(round(seconds / HOP))):
        t = k * HOP
        outputs = {"face": ModalityOutput("face", t, True, emotion=face, quality=0.9),
                   "voice": ModalityOutput("voice", t, True, emotion=voice, quality=0.9), "text": None}
        out.append(fuser.fuse(outputs, t))
    return out


def voice_share(step) -> float:
    return dict(step.weights)["voice"]


def test_a_channel_that_disagrees_for_seconds_is_discounted_with_its_reason():
    face, voice = probs("joy", 0.9), probs("anger", 0.6)
    on = run(Fuser(reliability=ReliabilityPolicy(enabled=True, window_s=5.0, min_window_s=2.0)), face, voice, 6.0)
    off = run(Fuser(), face, voice, 6.0)
    assert all(s.dominant == "joy" for s in on[5:])
    assert on[15].discounts == ()  # under 2 s of readings: too early to say
    reasons = dict(on[-1].discounts)
    assert set(reasons) == {"voice"} and reasons["voice"].startswith("voice: disagrees ")
    assert int(reasons["voice"].split()[2]) >= 4  # the reason counts the seconds of the 5 s window
    assert voice_share(on[-1]) < voice_share(off[-1])
    assert all(s.discounts == () for s in off)  # off by default


def test_agreeing_channels_are_not_discounted():
    steps = run(Fuser(reliability=ReliabilityPolicy(enabled=True)), probs("joy", 0.9), probs("joy", 0.6), 6.0)
    assert all(s.discounts == () for s in steps)


def test_a_flat_voice_reads_as_unlike_training():
    flat = probs("sadness", 0.22)  # a voice that is sure of nothing
    policy = ReliabilityPolicy(enabled=True, disagree_share=2.0, unsure_below={"voice": 0.3})  # never disagrees
    steps = run(Fuser(reliability=policy), probs("sadness", 0.8), flat, 4.0)
    assert steps[5].discounts == ()  # under min_window_s of readings: too early to say
    assert dict(steps[-1].discounts) == {"voice": "voice: unlike training"}
    sure = run(Fuser(reliability=policy), probs("sadness", 0.8), probs("sadness", 0.5), 4.0)
    assert sure[-1].discounts == ()


def test_a_discount_ends_when_the_channel_agrees_again():
    fuser = Fuser(reliability=ReliabilityPolicy(enabled=True))
    assert run(fuser, probs("joy", 0.9), probs("anger", 0.6), 4.0)[-1].discounts
    fuser.reset()
    assert run(fuser, probs("joy", 0.9), probs("joy", 0.6), 1.0)[-1].discounts == ()


def test_temperature_and_class_weights_leave_a_channels_top_class():
    from emolive.fusion.reliability import Reliability

    policy = ReliabilityPolicy(enabled=True, temperature={"voice": 1.4}, class_weight={"voice": (1.0,) * 7})
    reliability = Reliability(("face", "voice", "text"), policy)
    log_p = np.log(np.array(probs("fear", 0.5)))
    calibrated = reliability.calibrated("voice", log_p)
    assert int(np.argmax(calibrated)) == EMOTIONS.index("fear")
    assert np.isclose(np.exp(calibrated).sum(), 1.0) and np.exp(calibrated).max() < 0.5  # softer, same order
    assert np.allclose(reliability.calibrated("face", log_p), log_p)  # no temperature: unchanged


def test_the_chip_shows_the_discount_reason():
    from emolive.gui.overlay import chip_text, indicators

    voice = ModalityOutput("voice", 0.0, True, emotion=probs("anger", 0.6), quality=0.9)
    face = ModalityOutput("face", 0.0, True, emotion=probs("joy", 0.9), quality=0.9)
    estimate = EmotionEstimate(t=0.0, emotion=probs("joy", 0.9), sentiment=(0.2, 0.3, 0.5), valence=0.7,
                               arousal=0.5, dominant="joy", confidence=0.8, modalities=(face, voice),
                               discounts=(("voice", "voice: disagrees 5 s"),))
    chips = {i.modality: i for i in indicators(estimate)}
    assert chip_text(chips["voice"]) == "voice: disagrees 5 s" and chips["voice"].state == "weak"
    assert chips["face"].state == "trusted" and chips["text"].state == "absent"
    assert np.isclose(sum(estimate.emotion), 1.0)
