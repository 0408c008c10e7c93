"""Settings during a recording ask before restarting; a restart releases the old pipeline's models and threads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from fakes import Factory, FakeRecorder  # noqa: E402

from emolive.config import AppConfig, load_config, with_changes  # noqa: E402
from emolive.gui.interfaces import Sources  # noqa: E402
from emolive.gui.main_window import MainWindow  # noqa: E402
from emolive.gui.session import settings_needing_restart  # noqa: E402


def test_which_settings_need_a_restart():
    base = AppConfig()
    assert settings_needing_restart(base, with_changes(base, "recording", raw_video=True)) == []
    changed = with_changes(with_changes(base, "capture", camera="1"), "asr", enabled=False)
    assert settings_needing_restart(base, changed) == ["capture.camera", "asr.enabled"]


@pytest.fixture
def recording_window(qtbot, demo_clip, tmp_path):  # noqa: ANN001
    factory, recorder = Factory(), FakeRecorder()
    win = MainWindow(AppConfig(), Sources(video=demo_clip), factory, recorder=recorder,
                     config_path=tmp_path / "config.toml")
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.started, timeout=10_000):
        win.start()
    assert win.start_recording(tmp_path / "session")
    win.factory_made, win.asked = factory.made, []
    yield win
    win.close()


def answer(win: MainWindow, choice: str) -> None:
    def ask(changed: list[str]) -> str:
        win.asked.append(changed)
        return choice
    win.ask_restart = ask


def test_settings_during_a_recording_ask_and_cancel_changes_nothing(recording_window, tmp_path):  # noqa: ANN001
    win = recording_window
    answer(win, "cancel")
    win.apply_config(with_changes(win.config, "inference", budget_ms=120.0))
    assert win.asked == [["inference.budget_ms"]]
    assert win.recording_dir is not None and len(win.factory_made) == 1
    assert win.config.inference.budget_ms == 90.0 and not (tmp_path / "config.toml").exists()


def test_settings_can_wait_for_the_recording_to_end(qtbot, recording_window, tmp_path):  # noqa: ANN001
    win = recording_window
    answer(win, "later")
    win.apply_config(with_changes(win.config, "inference", budget_ms=120.0))
    assert win.recording_dir is not None and len(win.factory_made) == 1  # still recording, same pipeline
    assert load_config(tmp_path / "config.toml").inference.budget_ms == 120.0
    assert "recording ends" in win.statusBar().currentMessage()
    with qtbot.waitSignal(win.started, timeout=10_000):
        win.stop_recording()
    assert len(win.factory_made) == 2 and win.config.inference.budget_ms == 120.0


def test_restart_now_ends_the_recording_first(qtbot, recording_window):  # noqa: ANN001
    win = recording_window
    answer(win, "now")
    with qtbot.waitSignal(win.started, timeout=10_000):
        win.apply_config(with_changes(win.config, "inference", budget_ms=120.0))
    assert win.recording_dir is None and ("stop",) in win.recorder.calls and len(win.factory_made) == 2
    assert "inference.budget_ms" in win.statusBar().currentMessage()


def test_smoothing_applies_live_during_a_recording(recording_window, tmp_path):  # noqa: ANN001
    win = recording_window
    answer(win, "cancel")
    win.apply_config(with_changes(win.config, "inference", smoothing_s=1.0))
    assert win.asked == [] and len(win.factory_made) == 1 and win.recording_dir is not None
    assert win.factory_made[0].smoothing == [1.0] and win.config.inference.smoothing_s == 1.0
    assert load_config(tmp_path / "config.toml").inference.smoothing_s == 1.0


def test_recording_settings_apply_without_a_restart_or_a_question(recording_window):  # noqa: ANN001
    win = recording_window
    answer(win, "cancel")
    win.apply_config(with_changes(win.config, "recording", raw_video=True))
    assert win.asked == [] and len(win.factory_made) == 1 and win.config.recording.raw_video


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS"))


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc")
def test_five_restarts_release_models_and_threads(qtbot, demo_clip):  # noqa: ANN001
    """The real pipeline on the demo clip: after each restart, once stopped, threads and RSS are back."""
    from emolive.gui.app import live_pipeline

    win = MainWindow(AppConfig(), Sources(video=demo_clip, loop=True), live_pipeline, persist=False)
    qtbot.addWidget(win)

    def run_once() -> tuple[int, float]:
        with qtbot.waitSignal(win.started, timeout=180_000):
            win.start()
        assert win.pipeline is not None, win.banner.message.text()
        qtbot.waitUntil(lambda: win.estimates_received > 3, timeout=60_000)
        win.stop_pipeline()
        return _threads(), _rss_mb()

    threads0, rss0 = run_once()
    for _ in range(5):
        win.estimates_received = 0
        threads, rss = run_once()
    win.close()
    assert threads <= threads0 * 1.1, (threads0, threads)
    assert rss <= rss0 * 1.1, (rss0, rss)


def test_shutdown_joins_every_thread_with_a_timeout_and_names_the_late_one(caplog):
    import logging
    import threading

    from emolive.runtime.pipeline import LivePipeline

    release = threading.Event()

    class StuckSource:
        """A capture source whose thread ignores stop() until released."""

        name = "stuck-camera"

        def __init__(self, pipeline) -> None:  # noqa: ANN001
            self._thread = threading.Thread(target=release.wait, daemon=True)

        def start(self) -> None:
            self._thread.start()

        def stop(self) -> None:
            return None

        def join(self, timeout: float | None = None) -> None:
            self._thread.join(timeout)

        def is_alive(self) -> bool:
            return self._thread.is_alive()

    class Channels:
        face = voice = text = None
        problems = ()
        device = "cpu"

    pipeline = LivePipeline(AppConfig(), camera=None, microphone=None, asr=False, channels=Channels(),
                            source_factory=StuckSource)
    pipeline.start()
    with caplog.at_level(logging.WARNING, logger="emolive.runtime.pipeline"):
        late = pipeline.stop(timeout=0.5)
    release.set()
    assert late == ["stuck-camera"]
    assert any("stuck-camera" in r.getMessage() and "still running" in r.getMessage() for r in caplog.records)
    assert not pipeline.worker._thread.is_alive()  # the others were joined


def test_no_camera_banner_offers_a_video_file_and_reset_clears_stale_errors(qtbot, tmp_path):  # noqa: ANN001
    from emolive.core.errors import DeviceError

    def broken(config, sources, bridge):  # noqa: ANN001, ANN202
        raise DeviceError("camera '0' not found or busy")

    win = MainWindow(AppConfig(), Sources(video=None), broken, persist=False)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.started, timeout=5000):
        win.start()
    assert win.banner.open_video_button.isVisibleTo(win.banner)
    opened = []
    win.open_video_dialog = lambda: opened.append(True)
    win.banner.open_video.disconnect()
    win.banner.open_video.connect(win.open_video_dialog)
    win.banner.open_video_button.click()
    assert opened == [True]
    win.load_model("face", tmp_path / "nowhere")
    assert "does not exist" in win.banner.message.text()
    win.reset_models()
    assert win.banner.isHidden() and "does not exist" not in win.banner.message.text()
    win.close()


def test_summary_transcript_is_wrapped(capsys, demo_clip, tmp_path):  # noqa: ANN001
    import argparse

    from emolive.commands.analyze import _print_result
    from emolive.offline.job import JobResult

    summary = {"steps": 10, "media_s": 1.0, "wall_s": 1.0, "speed_x_realtime": 1.0, "load_s": 1.0,
               "time_share": {"joy": 1.0}, "mean_valence": 0.5, "mean_arousal": 0.5,
               "transcript": " ".join(["something said"] * 60)}
    result = JobResult(str(demo_clip), str(tmp_path / "o.csv"), "done", 1.0, "", summary)
    _print_result(result, argparse.Namespace(json=False, summary=True))
    lines = capsys.readouterr().out.splitlines()
    transcript = lines[next(i for i, line in enumerate(lines) if "transcript:" in line):]
    assert len(transcript) > 3 and max(len(line) for line in transcript) <= 100
    assert " ".join(" ".join(transcript).split()[1:]) == summary["transcript"]


def test_the_window_says_the_models_are_loading(qtbot, demo_clip):  # noqa: ANN001
    import threading

    release = threading.Event()
    inner = Factory()

    def slow(config, sources, bridge):  # noqa: ANN001, ANN202
        release.wait(10)
        return inner(config, sources, bridge)

    win = MainWindow(AppConfig(), Sources(video=demo_clip), slow, persist=False)
    qtbot.addWidget(win)
    win.start()
    assert "Loading the face, voice and text models" in win.video.placeholder
    assert "Loading the models" in win.statusBar().currentMessage()
    with qtbot.waitSignal(win.started, timeout=10_000):
        release.set()
    assert "Loading" not in win.statusBar().currentMessage()
    win.close()
