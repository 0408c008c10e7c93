"""Live partial decodes pause while nobody sees the window: Transcriber.set_partials, LivePipeline.set_live_partials
and the window's PartialsWhileSeen filter."""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QWidget

from emolive.asr.streaming import StreamConfig
from emolive.asr.transcriber import Transcriber
from emolive.config import load_config
from emolive.core.clock import SessionClock
from emolive.core.rings import AudioRing
from emolive.gui.partials import PartialsWhileSeen
from emolive.runtime.pipeline import LivePipeline


class _RecordingStream:
    """What the transcriber's loop needs of a stream; records the partials setting each step ran with."""

    def __init__(self, config: StreamConfig) -> None:
        self.config = config
        self.seen: list[bool] = []
        self.last_lag_s = 0.0
        self.stepped = threading.Event()

    def feed(self, block) -> None:  # noqa: ANN001
        pass

    def step(self, now: float) -> list:
        self.seen.append(self.config.partials)
        self.stepped.set()
        return []

    def finish(self, now: float) -> list:
        return []


class _Recorded(Transcriber):
    def _build(self) -> _RecordingStream:
        self.stream = _RecordingStream(self.config)
        return self.stream


def _steps(tr: _Recorded, n: int) -> None:
    for _ in range(n):
        tr.stream.stepped.clear()
        assert tr.stream.stepped.wait(10)


def test_set_partials_switches_the_running_stream_and_back_to_the_setting() -> None:
    tr = _Recorded(AudioRing(), SessionClock(), lambda s: None, poll_s=0.005, config=StreamConfig(partials=True))
    tr.set_partials(False)
    assert tr.partials is False
    tr.start()
    assert tr.ready.wait(10)
    _steps(tr, 2)
    tr.set_partials(None)  # back to config.partials
    _steps(tr, 2)
    tr.stop()
    tr.join(10)
    seen = tr.stream.seen
    assert seen[0] is False and seen[-1] is True
    assert seen == sorted(seen)  # False until the switch, True after it


class _Made:
    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        self.partials: list[bool | None] = []

    def set_partials(self, on: bool | None) -> None:
        self.partials.append(on)

    def start(self) -> None:
        pass


def test_the_pipeline_passes_the_switch_to_its_transcriber_now_and_later(monkeypatch) -> None:
    made: list[_Made] = []
    monkeypatch.setattr("emolive.asr.transcriber.Transcriber", lambda *a, **k: made.append(_Made()) or made[-1])
    pipeline = LivePipeline(load_config(None, []), camera=None, microphone=None)
    pipeline.set_live_partials(False)
    pipeline._start_transcriber()  # a transcriber started later gets the switch
    assert made[-1].partials == [False]
    pipeline.set_live_partials(None)
    assert made[-1].partials == [False, None]


class _Pipeline:
    def __init__(self) -> None:
        self.partials: list[bool | None] = []

    def set_live_partials(self, on: bool | None) -> None:
        self.partials.append(on)


class _Window(QWidget):
    started = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.pipeline = _Pipeline()


def test_the_window_pauses_partials_while_minimised_or_hidden(qtbot) -> None:  # noqa: ANN001
    window = _Window()
    qtbot.addWidget(window)
    watcher = PartialsWhileSeen(window)
    window.show()
    qtbot.waitUntil(lambda: window.pipeline.partials[-1:] == [None])
    window.setWindowState(Qt.WindowState.WindowMinimized)
    qtbot.waitUntil(lambda: window.pipeline.partials[-1:] == [False])
    assert watcher.paused
    window.setWindowState(Qt.WindowState.WindowNoState)
    window.show()
    qtbot.waitUntil(lambda: window.pipeline.partials[-1:] == [None])
    window.hide()
    qtbot.waitUntil(lambda: window.pipeline.partials[-1:] == [False])
    window.pipeline = _Pipeline()  # a restart: the new pipeline is told when it has started
    window.started.emit()
    assert window.pipeline.partials == [False]


def test_partials_stay_on_while_the_overlay_is_served(qtbot) -> None:  # noqa: ANN001
    window = _Window()
    qtbot.addWidget(window)
    PartialsWhileSeen(window, keep_on=lambda: True)
    window.show()
    window.hide()
    qtbot.wait(50)
    window.started.emit()
    assert window.pipeline.partials and set(window.pipeline.partials) == {None}


def test_the_live_transcriber_decodes_nothing_before_there_is_speech(monkeypatch) -> None:
    """No throw-away warm-up decode at start (it cost ~1 CPU s beside the first estimates and saved nothing)."""
    from types import SimpleNamespace

    calls: list[int] = []

    class Model:
        model = SimpleNamespace(is_multilingual=False)

        def transcribe(self, audio, **kwargs):  # noqa: ANN001, ANN003
            calls.append(len(audio))
            return iter(()), SimpleNamespace(language="en", language_probability=1.0)

    monkeypatch.setattr("emolive.asr.builder.shared_whisper", lambda *a, **k: Model())
    tr = Transcriber(AudioRing(), SessionClock(), lambda s: None, poll_s=0.005)
    tr.start()
    assert tr.ready.wait(30)
    tr.stop()
    tr.join(10)
    assert tr.error is None and calls == []
