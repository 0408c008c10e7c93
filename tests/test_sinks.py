"""The pipeline's sinks: the GUI's bridge and the recorder subscribe side by side; one failing sink harms none."""

from __future__ import annotations

import logging

from fakes import FakeRecorder, estimate

from emolive.config import AppConfig
from emolive.core.contracts import SourceEvent, TranscriptSegment
from emolive.runtime.pipeline import LivePipeline
from emolive.runtime.sinks import CallbackSink, SinkList


class Broken:
    def on_estimate(self, estimate) -> None:  # noqa: ANN001
        raise RuntimeError("sink down")

    on_segment = on_event = on_estimate


def test_every_sink_gets_every_item_in_order_and_a_broken_one_is_skipped(caplog) -> None:  # noqa: ANN001
    got: list[tuple[str, object]] = []
    first = CallbackSink(estimate=lambda e: got.append(("first", e.t)), segment=lambda s: got.append(("seg", s.text)),
                         event=lambda e: got.append(("event", e.kind)))
    second = CallbackSink(estimate=lambda e: got.append(("second", e.t)))
    sinks = SinkList([first, Broken(), second])
    with caplog.at_level(logging.ERROR, logger="emolive.runtime.sinks"):
        sinks.on_estimate(estimate(1.0))
        sinks.on_segment(TranscriptSegment("hi", 0.5, 0.9, committed=True, confidence=0.9))
        sinks.on_event(SourceEvent(t=1.0, source="file", kind="eof"))
    assert got == [("first", 1.0), ("second", 1.0), ("seg", "hi"), ("event", "eof")]
    assert sum("Broken.on_estimate failed" in r.getMessage() for r in caplog.records) == 1
    sinks.unsubscribe(first)
    sinks.subscribe(second)  # already there: not twice
    sinks.on_estimate(estimate(2.0))
    assert got[-1] == ("second", 2.0) and len(got) == 5 and len(sinks) == 2


def test_the_recorder_is_a_sink_that_records_only_while_recording(tmp_path) -> None:  # noqa: ANN001
    from emolive.recording import SessionRecorder

    recorder = SessionRecorder(AppConfig(), root=tmp_path, raw_audio=False, raw_video=False)
    sinks = SinkList([recorder])
    sinks.on_estimate(estimate(0.5))  # not recording: dropped
    folder = recorder.start()
    for k in range(3):
        sinks.on_estimate(estimate(1.0 + k))
    sinks.on_segment(TranscriptSegment("partial", 1.0, 1.2, committed=False, confidence=0.4))
    sinks.on_segment(TranscriptSegment("so happy", 1.0, 1.5, committed=True, confidence=0.9))
    sinks.on_event(SourceEvent(t=2.0, source="file", kind="eof"))
    recorder.stop()
    rows = (folder / "session.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[1].startswith("1.0")
    transcript = (folder / "transcript.jsonl").read_text()
    assert "so happy" in transcript and "partial" not in transcript


def test_the_pipeline_sends_to_its_sinks_and_lets_go_of_them_when_stopped() -> None:
    recorder = FakeRecorder()
    events: list[SourceEvent] = []
    pipeline = LivePipeline(AppConfig(), camera=None, microphone=None, asr=False,
                            sinks=[CallbackSink(event=events.append), recorder])
    pipeline._event("models", "error", "no face model")
    assert [(e.source, e.kind, e.message) for e in events] == [("models", "error", "no face model")]
    assert list(pipeline.sinks)[1] is recorder
    pipeline.stop(timeout=0.5)
    pipeline._event("models", "error", "late")
    assert len(events) == 1 and len(pipeline.sinks) == 0


def test_the_real_status_reports_what_runs() -> None:
    import threading

    from emolive.capture.synthetic import SyntheticSource
    from emolive.runtime.channels import Channels

    got = threading.Event()
    seen: list = []

    def on_estimate(e) -> None:  # noqa: ANN001
        seen.append(e)
        if len(seen) >= 5:
            got.set()

    config = AppConfig()
    pipeline = LivePipeline(config, camera=None, microphone=None, asr=False, channels=Channels(),
                            sinks=[CallbackSink(estimate=on_estimate)],
                            source_factory=lambda p: SyntheticSource(p.clock, p.frames, p.audio, seconds=30.0,
                                                                     on_event=p.sinks.on_event))
    before = pipeline.status()
    assert before.step_p50_ms == 0.0 and before.capture_fps == 0.0 and before.asr_lag_s is None
    pipeline.start()
    try:
        assert got.wait(30)
        status = pipeline.status()
    finally:
        pipeline.stop()
    assert status.capture_fps is not None and status.capture_fps > 0  # measured from the frames in the ring
    assert 0 < status.step_p50_ms <= status.step_p95_ms and status.budget_ms == config.inference.budget_ms
    assert status.device == "cpu" and status.asr_lag_s is None and status.asr_skipped_s is None
    assert isinstance(status.dropped_steps, int) and status.degraded == ""
