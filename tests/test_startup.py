"""The app's start: the pipeline runs with the face while the voice and text channels load, they join when loaded,
the window's chips say which are still loading, and a failed background load is said in the window."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest
from fakes import FakeFace, FakeText, FakeVoice

from emolive.capture.synthetic import SyntheticSource
from emolive.config import AppConfig
from emolive.core.contracts import EmotionEstimate, EventKind, SourceEvent
from emolive.gui.overlay import chip_text, indicators
from emolive.runtime.channels import Channels
from emolive.runtime.pipeline import LivePipeline
from emolive.runtime.preload import LaterChannels
from emolive.runtime.sinks import CallbackSink


def test_one_face_is_assigned_as_scipy_would_without_importing_it() -> None:
    from scipy.optimize import linear_sum_assignment

    from emolive.face.identity import _assignment

    rng = np.random.default_rng(3)
    for _ in range(500):
        cost = rng.integers(0, 3, size=(1, int(rng.integers(1, 7)))).astype(float)  # ties on purpose
        rows, cols = _assignment(cost)
        want_rows, want_cols = linear_sum_assignment(cost)
        assert np.array_equal(rows, want_rows) and np.array_equal(cols, want_cols)
    cost = rng.random((3, 5))
    assert all(np.array_equal(a, b) for a, b in zip(_assignment(cost), linear_sum_assignment(cost), strict=True))


def staged_pipeline(later: LaterChannels, sinks: list, face: object | None = None,
                    release_at_first_estimate: bool = True) -> LivePipeline:
    return LivePipeline(AppConfig(), camera=None, microphone=None, asr=False, sinks=sinks,
                        channels=Channels(face=face or FakeFace()), later=later,
                        release_at_first_estimate=release_at_first_estimate,
                        source_factory=lambda p: SyntheticSource(p.clock, p.frames, p.audio, seconds=60.0,
                                                                 on_event=p.sinks.on_event))


def test_the_voice_and_text_join_the_running_pipeline_when_loaded() -> None:
    events: list[SourceEvent] = []
    estimates: list[EmotionEstimate] = []
    first = threading.Event()

    def on_estimate(estimate: EmotionEstimate) -> None:
        estimates.append(estimate)
        first.set()

    later = LaterChannels()
    pipeline = staged_pipeline(later, [CallbackSink(estimate=on_estimate, event=events.append)])
    assert pipeline.status().loading == ("voice", "text")
    pipeline.start()
    try:
        assert first.wait(30)  # the face alone gives estimates
        assert later.released.is_set()  # ... and the first one let the later loads begin
        assert pipeline.worker is not None and pipeline.worker.voice is None and pipeline.worker.text is None
        voice = FakeVoice()
        later.arrive("voice", Channels(voice=voice))
        assert pipeline.worker.voice is voice and pipeline.status().loading == ("text",)
        later.arrive("text", Channels(problems=("text channel unavailable: no tokenizer",)))
        assert pipeline.status().loading == () and pipeline.worker.text is None
    finally:
        pipeline.stop()
    said = [e for e in events if e.source == "models" and e.kind == EventKind.ERROR]
    assert [e.message for e in said] == ["text channel unavailable: no tokenizer"]


def test_a_channel_loaded_after_the_stop_does_not_join() -> None:
    later = LaterChannels()
    pipeline = staged_pipeline(later, [])
    pipeline.start()
    later.arrive("voice", Channels(voice=FakeVoice()))
    worker = pipeline.worker
    later.arrive("text", Channels())
    pipeline.stop()
    later2 = LaterChannels()
    stopped = staged_pipeline(later2, [])
    stopped.start()
    stopped.stop()
    later2.arrive("voice", Channels(voice=FakeVoice()))
    later2.arrive("text", Channels(text=FakeText()))
    assert worker is not None and worker.voice is not None
    assert stopped.worker is not None and stopped.worker.voice is None and stopped.worker.text is None
    assert stopped.status().loading == ()


def test_a_channel_swapped_in_meanwhile_stays() -> None:
    later = LaterChannels()
    pipeline = staged_pipeline(later, [])
    pipeline.start()
    try:
        assert pipeline.worker is not None
        kept = FakeText()
        pipeline.worker.text = kept  # as a model swap (fine-tuning) while the text model was still loading
        later.arrive("voice", Channels())
        later.arrive("text", Channels(text=FakeText()))
        assert pipeline.worker.text is kept
    finally:
        pipeline.stop()


def test_a_stop_waits_for_the_loading_and_names_it_when_it_does_not_end() -> None:
    later = LaterChannels()
    pipeline = staged_pipeline(later, [])
    pipeline.start()
    assert "model loading" in pipeline.stop(timeout=0.2)  # a load in native code: the app leaves it behind


def test_the_chips_say_loading_until_a_channel_gives_something() -> None:
    words = [chip_text(item) for item in indicators(None, ("voice", "text"))]
    assert words == ["face: waiting", "voice: loading", "words: loading"]


# --- the window ----------------------------------------------------------------------------------------------
pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")


def chips(win) -> list[str]:  # noqa: ANN001
    return [chip_text(item) for item in indicators(win.video.estimate, win.video.loading)]


@pytest.fixture
def staged_window(qtbot):  # noqa: ANN001, ANN201
    from emolive.gui.interfaces import Sources
    from emolive.gui.main_window import MainWindow

    later = LaterChannels()

    def factory(config: AppConfig, sources: Sources, sinks: list) -> LivePipeline:
        return staged_pipeline(later, list(sinks), release_at_first_estimate=False)  # as the app's

    win = MainWindow(AppConfig(), Sources(camera=None, microphone=None, asr=False), factory, persist=False)
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.started, timeout=20_000):
        win.start()
    yield win, later
    win.shutdown()


def arrive_on_a_thread(later: LaterChannels, kind: str, channels: Channels) -> Callable[[], None]:
    thread = threading.Thread(target=later.arrive, args=(kind, channels))  # as the preload's loading thread
    thread.start()
    return lambda: thread.join(10)


def test_the_window_shows_loading_chips_then_the_channels_join(qtbot, staged_window) -> None:  # noqa: ANN001
    win, later = staged_window
    assert chips(win)[1:] == ["voice: loading", "words: loading"]
    qtbot.waitUntil(lambda: win.estimates_received > 0, timeout=20_000)  # the face alone: estimates already
    assert chips(win)[1:] == ["voice: loading", "words: loading"]
    assert later.released.is_set()  # the window has shown the first estimate: the voice and text may load
    arrive_on_a_thread(later, "voice", Channels(voice=FakeVoice()))()
    arrive_on_a_thread(later, "text", Channels(text=FakeText()))()
    qtbot.waitUntil(lambda: win.video.loading == (), timeout=20_000)
    assert all(not chip.endswith(": loading") for chip in chips(win))
    assert win.pipeline is not None and win.pipeline.worker.voice is not None


def test_a_background_load_that_fails_is_said_in_the_window(qtbot, staged_window) -> None:  # noqa: ANN001
    win, later = staged_window
    arrive_on_a_thread(later, "voice", Channels(problems=("voice channel unavailable: Whisper exploded",)))()
    arrive_on_a_thread(later, "text", Channels(text=FakeText()))()
    qtbot.waitUntil(lambda: any("Whisper exploded" in m for m in win.banner.messages), timeout=20_000)
    assert "models: voice channel unavailable: Whisper exploded" in win.banner.messages
    qtbot.waitUntil(lambda: win.video.loading == (), timeout=20_000)
    assert win.pipeline is not None and win.pipeline.worker.voice is None  # the app goes on without it


def test_the_traces_are_built_after_the_first_estimate_with_what_was_asked_before(qtbot, demo_clip) -> None:  # noqa: ANN001
    """At the app's launch pyqtgraph is imported (on a helper thread) once the first estimate is shown; a marker and
    a pause asked before are kept, and the menu's pause follows the plots' own button afterwards."""
    from fakes import Factory

    from emolive.gui.interfaces import Sources
    from emolive.gui.main_window import MainWindow

    win = MainWindow(AppConfig(), Sources(video=demo_clip), Factory(), persist=False, plots_later=True)
    qtbot.addWidget(win)
    win.show()
    try:
        assert win.plots.inner is None
        win.plots.add_marker(1.0, "early")
        win.actions.pause.trigger()
        with qtbot.waitSignal(win.started, timeout=10_000):
            win.start()
        qtbot.waitUntil(lambda: win.plots.inner is not None, timeout=30_000)
        assert win.estimates_received > 0
        assert win.plots.markers == [(1.0, "early")] and win.plots.paused
        win.plots.inner.pause_button.click()
        assert not win.plots.paused and not win.actions.pause.isChecked()
    finally:
        win.shutdown()
