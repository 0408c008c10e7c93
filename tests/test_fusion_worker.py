"""Fusion (trust, missing/stale modalities, uncertain state, smoothing) and the inference worker."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
from fakes import BrokenVoice, FakeFace, FakeText, FakeVoice, probs

from emolive.config import InferenceConfig
from emolive.core.clock import SessionClock
from emolive.core.contracts import AudioBlock, ModalityOutput, TranscriptSegment, VideoFrame
from emolive.core.labels import EMOTIONS
from emolive.core.rings import AudioRing, FrameRing
from emolive.fusion.circumplex import sentiment_from_emotion, valence_arousal
from emolive.fusion.fuser import UNCERTAIN, Fuser
from emolive.fusion.late import TrustPolicy, evidence
from emolive.fusion.smoothing import ExponentialSmoother
from emolive.runtime.worker import InferenceWorker, LoadGovernor


def output(modality: str, top: str, t: float = 0.0, quality: float = 0.9, **kw) -> ModalityOutput:
    return ModalityOutput(modality=modality, t=t, present=True, emotion=probs(top), quality=quality, **kw)


def test_nothing_trustworthy_gives_uncertain_not_a_class():
    fuser = Fuser(smoothing_s=0)
    absent = ModalityOutput("face", 0.0, False, reason="no face")
    result = fuser.fuse({"face": absent, "voice": None, "text": None}, now=0.0)
    assert result.dominant == UNCERTAIN and result.confidence == 0.0
    assert np.allclose(result.emotion, 1 / 7)


def test_single_modality_passes_through_and_others_get_no_weight():
    result = Fuser(smoothing_s=0).fuse({"face": output("face", "joy")}, now=0.0)
    assert result.dominant == "joy"
    weights = dict(result.weights)
    assert weights["face"] == pytest.approx(1.0) and weights["voice"] == 0.0 and weights["text"] == 0.0


def test_stale_modality_loses_weight_and_too_old_text_drops_out():
    policy = TrustPolicy()
    fresh, stale = output("face", "joy", t=10.0), output("face", "joy", t=8.0)
    assert policy.trust(stale, now=10.0) < 0.1 * policy.trust(fresh, now=10.0)
    old_text = output("text", "anger", t=0.0)
    assert policy.trust(old_text, now=policy.text_max_age_s + 1) == 0.0
    fuser = Fuser(smoothing_s=0)
    result = fuser.fuse({"face": fresh, "voice": output("voice", "anger", t=7.0)}, now=10.0)
    assert result.dominant == "joy" and dict(result.weights)["face"] > 0.9


def test_low_quality_and_flat_outputs_are_trusted_less():
    policy = TrustPolicy()
    sharp = output("face", "joy", quality=0.9)
    blurry = output("face", "joy", quality=0.2)
    flat = ModalityOutput("face", 0.0, True, emotion=tuple([1 / 7] * 7), quality=0.9)
    assert policy.trust(blurry, 0.0) < policy.trust(sharp, 0.0)
    assert policy.trust(flat, 0.0) < policy.trust(sharp, 0.0)


def test_a_scored_voice_window_counts_in_full_whatever_its_pauses():
    """The voice's quality is its window's speech share: from voice_full_speech (0.25) on it no longer scales the
    trust, below it the trust scales with the share; 1.0 restores trust proportional to the share."""
    policy = TrustPolicy()
    half = output("voice", "anger", quality=0.5)
    full = output("voice", "anger", quality=1.0)
    sparse = output("voice", "anger", quality=0.1)
    assert policy.trust(half, 0.0) == pytest.approx(policy.trust(full, 0.0))
    assert policy.trust(sparse, 0.0) == pytest.approx(0.4 * policy.trust(full, 0.0))
    old = TrustPolicy(voice_full_speech=1.0)
    assert old.trust(half, 0.0) == pytest.approx(0.5 * old.trust(full, 0.0))
    # the face's quality (size, blur) still scales its trust
    assert policy.trust(output("face", "joy", quality=0.5), 0.0) < policy.trust(output("face", "joy", quality=1.0), 0.0)


def test_a_voice_with_pauses_is_not_outvoted_by_an_equally_sure_face():
    """Face joy and voice anger, equally sure, the voice window half speech: neither channel dominates."""
    outputs = {"face": output("face", "joy", quality=1.0), "voice": output("voice", "anger", quality=0.5)}
    fused = Fuser(smoothing_s=0).fuse(outputs, 0.0)
    shares = dict(fused.weights)
    assert shares["face"] == pytest.approx(shares["voice"])
    old = Fuser(smoothing_s=0, policy=TrustPolicy(voice_full_speech=1.0)).fuse(outputs, 0.0)
    assert dict(old.weights)["voice"] < dict(old.weights)["face"]
    assert old.dominant == "joy"


FER_PRIOR = (0.176, 0.261, 0.170, 0.136, 0.139, 0.014, 0.103)  # neutral .. surprise, like the bundled face model


def test_a_face_reading_is_read_against_its_training_prior():
    """A reading equal to the face's training prior says nothing (uniform evidence); one that is that prior with
    disgust tripled says disgust, though joy is still its top class. Without a declared prior: joy."""
    assert np.allclose(evidence(FER_PRIOR, FER_PRIOR), np.log(1 / 7))
    tripled = np.array(FER_PRIOR) * np.where(np.array(EMOTIONS) == "disgust", 3.0, 1.0)
    tripled = tuple(tripled / tripled.sum())
    assert EMOTIONS[int(np.argmax(tripled))] == "joy"
    face = ModalityOutput("face", 0.0, True, emotion=tripled, quality=1.0, prior=FER_PRIOR)
    assert Fuser(smoothing_s=0).fuse({"face": face}, 0.0).dominant == "disgust"
    assert Fuser(smoothing_s=0).fuse({"face": replace(face, prior=None)}, 0.0).dominant == "joy"
    # a class missing from the training labels (share 0) is not boosted by dividing by zero
    unseen = (0.3, 0.3, 0.2, 0.2, 0.0, 0.0, 0.0)
    reading = (0.35, 0.3, 0.2, 0.15 - 3e-6, 1e-6, 1e-6, 1e-6)
    assert EMOTIONS[int(np.argmax(evidence(reading, unseen)))] == "neutral"


def test_the_face_prior_does_not_outvote_the_voice():
    """Face: its training prior with joy doubled (joy 0.41, 1.6x its prior); voice: sadness 0.3 (2.1x uniform).
    Read against its prior the face's joy is the weaker evidence; the FER skew towards joy no longer tips it."""
    lean = np.array(FER_PRIOR) * np.where(np.array(EMOTIONS) == "joy", 2.0, 1.0)
    face = ModalityOutput("face", 0.0, True, emotion=tuple(lean / lean.sum()), quality=1.0, prior=FER_PRIOR)
    voice = ModalityOutput("voice", 0.0, True, emotion=probs("sadness", 0.3), quality=1.0)
    fused = Fuser(smoothing_s=0).fuse({"face": face, "voice": voice}, 0.0)
    old = Fuser(smoothing_s=0).fuse({"face": replace(face, prior=None), "voice": voice}, 0.0)
    assert old.dominant == "joy" and fused.dominant == "sadness"


def test_agreeing_modalities_are_more_confident_than_one():
    fuser = Fuser(smoothing_s=0)
    one = fuser.fuse({"face": output("face", "anger")}, 0.0)
    fuser.reset()
    three = fuser.fuse({m: output(m, "anger") for m in ("face", "voice", "text")}, 0.0)
    assert three.dominant == one.dominant == "anger"
    assert three.confidence >= one.confidence


def test_text_sentiment_is_used_when_words_are_trusted():
    text = ModalityOutput("text", 0.0, True, emotion=probs("anger"), sentiment=(0.9, 0.05, 0.05), quality=0.9)
    result = Fuser(smoothing_s=0).fuse({"text": text}, 0.0)
    assert result.sentiment[0] > 0.6


def test_circumplex_places_joy_positive_and_sadness_low_arousal():
    v_joy, a_joy = valence_arousal(np.array(probs("joy", 1.0)))
    v_sad, a_sad = valence_arousal(np.array(probs("sadness", 1.0)))
    assert v_joy > 0.7 > 0.3 > v_sad and a_sad < a_joy
    assert sentiment_from_emotion(np.array(probs("anger", 1.0)))[0] == pytest.approx(1.0)


def test_smoother_has_the_stated_lag():
    smoother = ExponentialSmoother(tau_s=0.5)
    smoother.update(0.0, np.array([0.0]))
    value = 0.0
    for k in range(1, 6):  # a step to 1 at t=0, sampled every 0.1 s for 0.5 s
        value = smoother.update(0.1 * k, np.array([1.0]))[0]
    assert value == pytest.approx(1 - np.exp(-1), abs=1e-6)


def test_governor_sheds_load_when_p95_nears_budget_and_recovers():
    governor = LoadGovernor(budget_ms=90, warmup=20)
    for _ in range(20):  # warm-up steps are not judged
        governor.record(500.0)
    assert governor.level == 0
    for _ in range(10):
        governor.record(85.0)
    assert governor.level == 1 and governor.describe()
    for _ in range(60):
        governor.record(5.0)
    assert governor.level == 0
    off = LoadGovernor(budget_ms=90, warmup=0, enabled=False)
    for _ in range(50):
        off.record(500.0)
    assert off.level == 0


def make_worker(face=None, voice=None, text=None, on_error=None, **cfg):
    frames, audio = FrameRing(30), AudioRing(5.0)
    worker = InferenceWorker(frames, audio, Fuser(smoothing_s=0), InferenceConfig(**cfg), face=face, voice=voice,
                             text=text, on_error=on_error)
    return worker, frames, audio


class RecordingFace(FakeFace):
    def __init__(self) -> None:
        super().__init__()
        self.detects: list[bool | None] = []

    def process(self, frame, detect=None):
        self.detects.append(detect)
        return super().process(frame)


class CountingVoice(FakeVoice):
    def __init__(self) -> None:
        self.calls = 0

    def process(self, samples, t):
        self.calls += 1
        return super().process(samples, t)


def test_face_detection_and_voice_never_share_a_hop():
    face, voice = RecordingFace(), CountingVoice()
    face.detect_every = 2
    worker, frames, audio = make_worker(face, voice, voice_every=2)
    audio.write(AudioBlock(0.0, np.full(5 * 16_000, 0.1, np.float32)))
    voice_steps, detect_steps = [], []
    for k in range(12):
        t = 1.0 + 0.1 * k
        frames.write(VideoFrame(t - 0.01, k, np.full((8, 8, 3), 200, np.uint8)))
        before = voice.calls
        worker.step(t)
        if voice.calls > before:
            voice_steps.append(k)
        if face.detects[-1]:
            detect_steps.append(k)
    assert detect_steps == [0, 2, 4, 6, 8, 10]
    assert voice_steps == [0, 1, 3, 5, 7, 9, 11]  # the first hop has no voice result yet, then odd hops
    assert worker._schedule(4, level=2) == (True, True, False) and worker._schedule(5, level=2)[2] is True
    assert worker._schedule(7, level=2)[2] is False  # under load voice runs every 4th hop
    assert worker._schedule(3, level=3)[0] is False  # most load: the face channel every other hop


def test_worker_step_uses_each_channel_and_reports_stages():
    worker, frames, audio = make_worker(FakeFace(), FakeVoice(), FakeText())
    frames.write(VideoFrame(0.95, 0, np.full((8, 8, 3), 200, np.uint8)))
    audio.write(AudioBlock(0.0, np.full(16_000, 0.1, np.float32)))
    worker.add_segment(TranscriptSegment("so sad", 0.2, 0.8, committed=True, confidence=0.9))
    worker.add_segment(TranscriptSegment("partial", 0.8, 0.9, committed=False, confidence=0.5))
    estimate = worker.step(1.0)
    assert {m.modality for m in estimate.modalities} == {"face", "voice", "text"}
    assert estimate.transcript == "so sad"
    assert estimate.faces and estimate.faces[0].track_id == 0
    stages = dict(estimate.latency_ms)
    assert {"face", "voice", "text", "fusion", "total"} <= set(stages)
    assert dict(estimate.weights)["text"] > 0
    assert worker.step(1.1).transcript == ""  # committed text is reported once


def test_worker_without_any_input_is_uncertain():
    worker, frames, audio = make_worker(FakeFace(), FakeVoice(), FakeText())
    frames.write(VideoFrame(0.9, 0, np.zeros((8, 8, 3), np.uint8)))  # a frame with no face
    audio.write(AudioBlock(0.0, np.zeros(16_000, np.float32)))  # silence
    estimate = worker.step(1.0)
    assert estimate.dominant == UNCERTAIN
    assert estimate.modality("face").reason == "no face" and estimate.modality("voice").reason == "no speech"


def test_worker_does_not_reprocess_the_same_frame():
    face = FakeFace()
    worker, frames, _ = make_worker(face)
    frames.write(VideoFrame(0.5, 0, np.full((8, 8, 3), 200, np.uint8)))
    worker.step(0.6)
    worker.step(0.7)
    assert face.calls == 1


def test_a_failing_channel_is_reported_once_and_the_rest_keeps_working():
    errors = []
    worker, frames, audio = make_worker(FakeFace(), BrokenVoice(), on_error=errors.append)
    frames.write(VideoFrame(0.9, 0, np.full((8, 8, 3), 200, np.uint8)))
    audio.write(AudioBlock(0.0, np.full(16_000, 0.1, np.float32)))
    first = worker.step(1.0)
    audio.write(AudioBlock(1.0, np.full(1600, 0.1, np.float32)))
    worker.step(1.1)
    assert first.dominant == "joy"
    assert first.modality("voice").reason.startswith("error")
    assert len(errors) == 1 and "voice" in errors[0]


class SlowFace(FakeFace):
    def process(self, frame, detect=None):
        time.sleep(0.25)
        return super().process(frame)


def test_live_worker_drops_stale_hops_instead_of_queueing():
    clock = SessionClock()
    frames, audio = FrameRing(30), AudioRing(5.0)
    estimates = []
    worker = InferenceWorker(frames, audio, Fuser(), InferenceConfig(hop_s=0.05), clock=clock, face=SlowFace(),
                             on_estimate=estimates.append)
    index = 0

    worker.start()
    deadline = time.monotonic() + 1.6
    while time.monotonic() < deadline:
        frames.write(VideoFrame(clock.now(), index, np.full((8, 8, 3), 200, np.uint8)))
        index += 1
        time.sleep(0.02)
    worker.stop()
    worker.join(2.0)
    assert worker.dropped > 0, "hops missed while a step ran must be dropped"
    # every published estimate is fresh: its time is close to when it was computed, not a backlog
    assert len(estimates) <= 8
    times = [e.t for e in estimates]
    assert all(b - a >= 0.2 for a, b in zip(times, times[1:], strict=False))


def test_text_committed_while_stopping_gets_a_last_estimate():
    clock = SessionClock()
    estimates = []
    worker = InferenceWorker(FrameRing(30), AudioRing(5.0), Fuser(), InferenceConfig(hop_s=10.0), clock=clock,
                             text=FakeText(), on_estimate=estimates.append)
    worker.start()
    now = clock.now()
    worker.add_segment(TranscriptSegment("the last words", now - 0.5, now, committed=True, confidence=0.9))
    worker.stop()
    worker.join(2.0)
    assert [e.transcript for e in estimates] == ["the last words"]


def test_native_thread_pools_are_capped_for_the_live_pipeline():
    import numpy  # noqa: F401 - loads its OpenBLAS
    from threadpoolctl import threadpool_info, threadpool_limits

    from emolive.models.device import limit_native_threads

    original = max(i["num_threads"] for i in threadpool_info())
    try:
        limit_native_threads(1)
        assert [i["num_threads"] for i in threadpool_info()] == [1] * len(threadpool_info())
    finally:
        threadpool_limits(limits=original)


class GpuFace(FakeFace):
    def __init__(self):
        super().__init__()
        self.device = "cuda"

    def to(self, device):
        self.device = device

    def process(self, frame, detect=None):
        if self.device == "cuda":
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return super().process(frame)


def test_a_cuda_error_moves_the_channels_to_the_cpu_and_continues():
    errors = []
    face = GpuFace()
    frames, audio = FrameRing(30), AudioRing(5.0)
    worker = InferenceWorker(frames, audio, Fuser(smoothing_s=0), InferenceConfig(), face=face,
                             on_error=errors.append, device="cuda")
    frames.write(VideoFrame(0.5, 0, np.full((8, 8, 3), 200, np.uint8)))
    worker.step(0.6)
    frames.write(VideoFrame(0.65, 1, np.full((8, 8, 3), 200, np.uint8)))
    estimate = worker.step(0.7)
    assert face.device == "cpu" and worker.device == "cpu"
    assert errors and "CPU" in errors[0]
    assert estimate.dominant == "joy"


def test_neutral_words_do_not_outvote_face_and_voice():
    """Face joy + voice joy + words without emotion (text neutral) -> joy, the words hardly weighted."""
    outputs = {"face": output("face", "joy", quality=0.7), "voice": output("voice", "joy", quality=0.7),
               "text": ModalityOutput("text", 0.0, True, emotion=probs("neutral", 0.95), quality=1.0)}
    result = Fuser(smoothing_s=0).fuse(outputs, 0.0)
    assert result.dominant == "joy"
    assert dict(result.weights)["text"] < 0.1
    # the same words without the gate took a real share: the rule, not the inputs, makes the difference
    ungated = Fuser(smoothing_s=0, policy=TrustPolicy(text_emotional_gate=False)).fuse(outputs, 0.0)
    assert dict(ungated.weights)["text"] > 0.3


def test_face_and_voice_disagreeing_are_not_tipped_to_neutral_by_words():
    outputs = {"face": output("face", "joy"), "voice": output("voice", "anger"),
               "text": ModalityOutput("text", 0.0, True, emotion=probs("neutral", 0.95), quality=1.0)}
    assert Fuser(smoothing_s=0).fuse(outputs, 0.0).dominant in ("joy", "anger")
    ungated = Fuser(smoothing_s=0, policy=TrustPolicy(text_emotional_gate=False)).fuse(outputs, 0.0)
    assert ungated.dominant == "neutral"  # the failure the gate removes


def test_emotional_words_still_count():
    alone = Fuser(smoothing_s=0).fuse({"text": output("text", "anger")}, 0.0)
    assert alone.dominant == "anger" and alone.confidence > 0
    policy = TrustPolicy()
    assert policy.trust(output("text", "anger"), 0.0) > 3 * policy.trust(output("text", "neutral"), 0.0)
    # an emotional sentence tips a face that is unsure between two classes
    face = ModalityOutput("face", 0.0, True, quality=0.9,
                          emotion=tuple(0.4 if e in ("joy", "surprise") else 0.04 for e in EMOTIONS))
    assert Fuser(smoothing_s=0).fuse({"face": face, "text": output("text", "surprise")}, 0.0).dominant == "surprise"


def test_unsure_readings_of_neutral_words_do_not_vote_but_emotional_words_do():
    """A text model half sure the words are neutral (p(neutral) 0.6, the rest spread, as Whisper's transcript of
    "Kids are talking by the door" reads) gets no weight; p(neutral) 0.05 counts nearly in full; the old
    1 - p(neutral) gate (margin 0) left the unsure reading 0.4 of its trust."""
    unsure = (0.6, 0.02, 0.05, 0.18, 0.05, 0.08, 0.02)
    emotional = (0.05, 0.02, 0.03, 0.8, 0.04, 0.04, 0.02)
    policy, old = TrustPolicy(), TrustPolicy(text_neutral_margin=0.0)
    assert policy.relevance("text", unsure) == 0.0
    assert old.relevance("text", unsure) == pytest.approx(0.4)
    assert policy.relevance("text", emotional) == pytest.approx(0.9)
    assert policy.relevance("face", unsure) == 1.0
    # face joy and voice sadness about equally sure: the unsure words' anger does not tip them, it did before
    outputs = {"face": output("face", "joy"), "voice": output("voice", "sadness"),
               "text": ModalityOutput("text", 0.0, True, emotion=unsure, quality=1.0)}
    fused = Fuser(smoothing_s=0).fuse(outputs, 0.0)
    assert dict(fused.weights)["text"] == 0.0 and fused.dominant in ("joy", "sadness")
    assert dict(Fuser(smoothing_s=0, policy=old).fuse(outputs, 0.0).weights)["text"] > 0.05


def test_agreement_of_agreeing_and_disagreeing_channels():
    fuser = Fuser(smoothing_s=0)
    same = fuser.fuse({m: output(m, "anger") for m in ("face", "voice", "text")}, 0.0)
    fuser.reset()
    split = fuser.fuse({"face": output("face", "joy", quality=0.9), "voice": output("voice", "sadness")}, 0.0)
    assert same.agreement == pytest.approx(1.0)
    assert split.agreement is not None and split.agreement < 0.6
    # one trusted channel (the words are neutral, so hardly trusted): nothing to agree with
    fuser.reset()
    single = fuser.fuse({"face": output("face", "joy"),
                         "text": ModalityOutput("text", 0.0, True, emotion=probs("neutral", 0.95), quality=1.0)},
                        0.0)
    assert single.agreement is None
    fuser.reset()
    assert fuser.fuse({"face": None, "voice": None, "text": None}, 0.0).agreement is None


def test_agreement_function_bounds():
    from emolive.fusion.late import agreement

    one_hot = np.eye(len(EMOTIONS))
    assert agreement(one_hot[[0, 0]], np.array([0.5, 0.5])) == pytest.approx(1.0)
    assert agreement(one_hot[[0, 1]], np.array([0.5, 0.5])) == pytest.approx(0.0)
    assert agreement(one_hot[[0, 1]], np.array([0.95, 0.05])) is None  # the second is not trusted


