"""The desktop window driven by a fake pipeline that replays the demo clip and emits estimates."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from fakes import BOX, Factory, FakeRecorder, estimate, recording_window  # noqa: E402

from emolive.config import AppConfig, load_config  # noqa: E402
from emolive.core.contracts import SourceEvent, TranscriptSegment  # noqa: E402
from emolive.core.errors import DeviceError  # noqa: E402
from emolive.gui.interfaces import Sources  # noqa: E402
from emolive.gui.main_window import MainWindow  # noqa: E402
from emolive.gui.status import WARN_STYLE  # noqa: E402


@pytest.fixture
def factory() -> Factory:
    return Factory()


@pytest.fixture
def window(qtbot, factory, demo_clip, tmp_path):  # noqa: ANN001
    win = MainWindow(AppConfig(), Sources(video=demo_clip), factory, config_path=tmp_path / "config.toml")
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.started, timeout=10_000):
        win.start()
    yield win
    win.shutdown()


def wait_for_frame_and_estimate(qtbot, win) -> None:  # noqa: ANN001
    qtbot.waitUntil(lambda: win.video.frame is not None and win.video.estimate is not None, timeout=10_000)


def test_window_shows_the_clip_with_the_overlay(qtbot, window):  # noqa: ANN001
    wait_for_frame_and_estimate(qtbot, window)
    assert window.pipeline is not None and window.pipeline.started
    assert window.video.frame.image.shape == (480, 640, 3)
    assert window.video.estimate.faces[0] == BOX
    image = window.video.grab().toImage()
    from PySide6.QtCore import QRectF

    from emolive.gui.style import EMOTION_COLORS
    from emolive.gui.video_view import fit_rect

    target = fit_rect(640, 480, QRectF(window.video.rect()))
    scale = target.width() / 640
    ratio = image.devicePixelRatio()
    x = int((target.x() + (BOX.x + BOX.w / 2) * scale) * ratio)
    y = int((target.y() + BOX.y * scale) * ratio)
    colour = image.pixelColor(x, y)
    expected = tuple(int(EMOTION_COLORS["joy"][i : i + 2], 16) for i in (1, 3, 5))
    assert max(abs(a - b) for a, b in zip((colour.red(), colour.green(), colour.blue()), expected, strict=True)) < 40

    window.actions.view["face_box"].trigger()  # View > Face box off: the box is no longer drawn
    assert not window.video.options.face_box
    window.video.repaint()
    colour = window.video.grab().toImage().pixelColor(x, y)
    assert max(abs(a - b) for a, b in zip((colour.red(), colour.green(), colour.blue()), expected, strict=True)) >= 40


def test_plots_follow_the_estimates(qtbot, window):  # noqa: ANN001
    qtbot.waitUntil(lambda: window.plots.points_shown >= 5, timeout=10_000)
    x, y = window.plots.emotion_curves["joy"].getData()
    assert len(x) >= 5 and np.allclose(y, max(estimate(0).emotion))
    vx, vy = window.plots.current_point.getData()
    assert list(vx) == pytest.approx([0.8]) and list(vy) == pytest.approx([0.6])
    start, end = window.plots.view_range
    assert end - start == pytest.approx(60.0)

    window.actions.pause.trigger()
    assert window.plots.paused and window.plots.pause_button.isChecked()
    frozen = window.plots.view_range
    qtbot.wait(300)
    assert window.plots.view_range == pytest.approx(frozen)
    window.plots.scroll_to(frozen[1] - 1.0)
    window.plots.refresh(window.history)
    assert window.plots.view_range[1] == pytest.approx(frozen[1] - 1.0)
    window.actions.pause.trigger()
    assert not window.plots.paused


def test_status_bar_reports_pipeline_figures(qtbot, window):  # noqa: ANN001
    qtbot.waitUntil(lambda: "30.0 fps" in window.status_panel.text(), timeout=5000)
    text = window.status_panel.text()
    assert "p95 120" in text and "budget 90" in text and "CPU" in text and "transcript 0.8 s behind" in text
    labels = window.status_panel.labels
    assert labels["latency"].styleSheet() == WARN_STYLE  # p95 120 over the budget of 90 is highlighted...
    assert labels["fps"].styleSheet() == labels["device"].styleSheet() == ""  # ... 30 fps and the device are not
    assert labels["recording"].text() == "not recording" and labels["recording"].styleSheet() == ""


def test_transcript_partial_then_committed_with_sentiment(qtbot, window):  # noqa: ANN001
    bridge = window.bridge

    def speak() -> None:  # from a worker thread, as the transcriber would
        bridge.on_segment(TranscriptSegment("I am so", 1.0, 1.5, committed=False, confidence=0.5))
    thread = threading.Thread(target=speak)
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: window.transcript.partial is not None, timeout=5000)
    qtbot.waitUntil(lambda: 'class="partial"' in window.transcript_view.toHtml() or
                    "I am so" in window.transcript_view.toPlainText(), timeout=5000)
    from emolive.gui.transcript_view import render_html

    assert "font-style:italic" in render_html(window.transcript) and "I am so" in render_html(window.transcript)

    bridge.on_segment(TranscriptSegment("I am so happy today", 1.0, 2.0, committed=True, confidence=0.9))
    bridge.on_estimate(estimate(window.pipeline.clock.now(), text_sentiment=(0.05, 0.15, 0.8),
                                transcript="I am so happy today"))
    qtbot.waitUntil(lambda: "[positive]" in window.transcript_view.toPlainText(), timeout=5000)
    assert window.transcript.partial is None
    assert "I am so happy today" in window.transcript_view.toPlainText()


def test_runtime_error_is_shown_and_the_app_keeps_running(qtbot, window):  # noqa: ANN001
    window.bridge.on_event(SourceEvent(t=1.0, source="microphone", kind="error", message="audio device lost"))
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=5000)
    assert "audio device lost" in window.banner.message.text()
    count = window.estimates_received
    qtbot.waitUntil(lambda: window.estimates_received > count + 3, timeout=5000)
    window.banner.dismiss()
    assert not window.banner.isVisible()


def test_menus_exist_and_unavailable_entries_say_why(window):  # noqa: ANN001
    titles = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert titles == ["File", "Session", "Model", "View", "Help"]
    for action in (window.actions.record, window.actions.marker):
        assert not action.isEnabled() and action.toolTip()  # this window has no recorder: disabled, says why
    assert window.actions.finetune.isEnabled()
    assert window.actions.quit.shortcut().toString() and window.actions.open.shortcut().toString()
    window.actions.view["indicators"].trigger()
    assert not window.video.options.indicators
    window.actions.show_plots.trigger()
    assert not window.plots.isVisible()


def test_open_video_restarts_the_pipeline(qtbot, window, factory, demo_clip):  # noqa: ANN001
    first = factory.made[0]
    with qtbot.waitSignal(window.started, timeout=10_000):
        window.open_video(demo_clip)
    assert first.stopped and not first.alive
    assert len(factory.made) == 2 and window.pipeline is factory.made[1]
    qtbot.waitUntil(lambda: window.estimates_received > 0 and len(window.history) > 0, timeout=5000)


def model_folder(tmp_path: Path, kind: str) -> Path:
    """A usable copy of a shipped model folder (fusion: equal late-fusion weights)."""
    import shutil

    from emolive.models.assets import default_model_dir

    folder = tmp_path / f"my-{kind}"
    if kind == "fusion":
        from emolive.fusion.late_model import LateFusion
        from emolive.models.io import save_model

        save_model(LateFusion(), {"kind": "late_fusion"}, folder)
    else:
        shutil.copytree(default_model_dir(kind), folder)
    return folder


def test_load_model_checks_the_folder_then_persists_and_swaps(qtbot, window, factory, tmp_path):  # noqa: ANN001
    window.load_model("face", tmp_path / "nowhere")
    assert "does not exist" in window.banner.message.text() and factory.made[0].swaps == []
    folder = model_folder(tmp_path, "face")
    assert window.load_model("face", folder)
    qtbot.waitUntil(lambda: window.config.inference.face_model == str(folder), timeout=5000)
    assert load_config(tmp_path / "config.toml").inference.face_model == str(folder)
    window.reset_models()
    qtbot.waitUntil(lambda: window.config.inference.face_model == "", timeout=5000)
    assert [s.face_model for s in factory.made[0].swaps] == [str(folder), ""] and len(factory.made) == 1


def test_a_model_switch_without_a_running_pipeline_persists_and_starts_one(qtbot, tmp_path):  # noqa: ANN001
    factory = Factory()
    win = MainWindow(AppConfig(), Sources(video=None, camera=None, microphone=None), factory,
                     config_path=tmp_path / "config.toml")
    qtbot.addWidget(win)
    folder = model_folder(tmp_path, "face")
    with qtbot.waitSignal(win.started, timeout=10_000):
        assert win.load_model("face", folder)
    assert len(factory.made) == 1 and factory.made[0].config.inference.face_model == str(folder)
    assert load_config(tmp_path / "config.toml").inference.face_model == str(folder)
    win.close()


def test_settings_dialog_edits_the_config(qtbot):  # noqa: ANN001
    from emolive.gui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(AppConfig(), microphones=lambda: [("3", "3: USB mic")])
    qtbot.addWidget(dialog)
    dialog.camera.setCurrentIndex(dialog.camera.findData(""))
    dialog.microphone.setCurrentIndex(dialog.microphone.findData("3"))
    dialog.device.setCurrentText("cpu")
    dialog.budget.setValue(120)
    dialog.smoothing.setValue(1.5)
    dialog.asr_model.setEditText("/models/whisper-small")
    dialog.language.setCurrentIndex(dialog.language.findData("de"))
    config = dialog.result_config()
    assert (config.capture.camera, config.capture.microphone) == ("", "3")
    assert (config.inference.device, config.inference.budget_ms, config.inference.smoothing_s) == ("cpu", 120, 1.5)
    assert (config.asr.model, config.asr.language) == ("/models/whisper-small", "de")


def test_recording_menu_drives_the_recorder_and_close_flushes_it(qtbot, factory, demo_clip, tmp_path):  # noqa: ANN001
    recorder = FakeRecorder()
    win = MainWindow(AppConfig(), Sources(video=demo_clip), factory, recorder=recorder, persist=False)
    qtbot.addWidget(win)
    assert win.actions.record.isEnabled() and not win.actions.marker.isEnabled()
    assert win.start_recording(tmp_path / "session")
    assert win.actions.marker.isEnabled() and "Stop" in win.actions.record.text()
    win.add_marker("laugh")
    win._refresh_status()
    assert "REC session" in win.status_panel.text()
    win.close()
    assert recorder.calls == [("start", tmp_path / "session"), ("marker", "laugh"), ("stop",)]


def test_close_stops_and_joins_the_pipeline(qtbot, window, factory):  # noqa: ANN001
    pipeline = factory.made[0]
    qtbot.waitUntil(lambda: pipeline.alive and window.estimates_received > 0, timeout=5000)
    window.close()
    assert pipeline.stopped and not pipeline.alive
    assert window.pipeline is None and not window._timer.isActive()


def test_a_failing_start_is_reported_in_the_window(qtbot, demo_clip):  # noqa: ANN001
    def broken(config, sources, bridge):  # noqa: ANN001, ANN202
        raise DeviceError("camera '0' not found or busy")

    win = MainWindow(AppConfig(), Sources(video=None), broken, persist=False)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.started, timeout=5000):
        win.start()
    assert win.pipeline is None and "camera '0' not found" in win.banner.message.text()
    assert "Not running" in win.video.placeholder
    win.close()


def test_model_cards_dialog_lists_the_cards(qtbot, tmp_path):  # noqa: ANN001
    from emolive.gui.dialogs import ModelCardsDialog

    (tmp_path / "face").mkdir()
    (tmp_path / "face" / "MODEL_CARD.md").write_text("# Face model\nTrained on FER2013.")
    dialog = ModelCardsDialog(root=tmp_path)
    qtbot.addWidget(dialog)
    assert list(dialog.cards) == ["face"] and dialog.tabs.tabText(0) == "face"
    assert "Trained on FER2013" in dialog.tabs.widget(0).toPlainText()


def test_recording_with_the_real_session_recorder(qtbot, factory, demo_clip, tmp_path):  # noqa: ANN001
    win, recorder = recording_window(qtbot, factory, demo_clip, tmp_path)
    folder = win.recording_dir
    assert folder is not None and folder.parent == tmp_path
    qtbot.waitUntil(lambda: recorder.rows_written >= 3, timeout=10_000)
    win.add_marker("laugh")
    win.plots.refresh(win.history, recorder.now() + 0.1)
    [(x, label)] = win.plots.visible_markers()  # drawn on the traces at its time
    assert label == "laugh" and -win.plots.window_s <= x <= 0.5
    win.close()  # close stops the recording: the CSV is complete on disk
    rows = (folder / "session.csv").read_text().splitlines()
    assert rows[0].startswith("t,") and len(rows) >= 4 and any("laugh" in r for r in rows)



def test_model_switches_hot_swap_and_persist(qtbot, demo_clip, tmp_path):  # noqa: ANN001
    factory = Factory()
    made = factory.made
    win = MainWindow(AppConfig(), Sources(video=demo_clip), factory, config_path=tmp_path / "config.toml")
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.started, timeout=10_000):
        win.start()
    folder = model_folder(tmp_path, "voice")
    assert win.load_model("voice", folder)
    qtbot.waitUntil(lambda: "Switched" in win.statusBar().currentMessage(), timeout=5000)
    assert len(made) == 1 and made[0].swaps[-1].voice_model == str(folder)  # no restart
    assert load_config(tmp_path / "config.toml").inference.voice_model == str(folder)

    # The fine-tune and calibration dialogs switch models through the window (persisted the same way).
    win.open_finetune()
    win.open_calibration()
    assert win.finetune.pipeline is win.model_switcher and win.calibration.pipeline is win.model_switcher
    assert win.model_switcher.config is win.config
    seen = []
    win.calibration.on_estimate = seen.append
    qtbot.waitUntil(lambda: len(seen) > 2, timeout=5000)  # live estimates reach the calibration dialog
    fusion = model_folder(tmp_path, "fusion")
    done: list[str] = []
    win.model_switcher.swap_models(win.config.inference.__class__(fusion_model=str(fusion)), done.append)
    qtbot.waitUntil(lambda: done == [""], timeout=5000)
    assert made[0].swaps[-1].fusion_model == str(fusion) and win.config.inference.fusion_model == str(fusion)
    win.close()
    assert made[0].stopped and not win.finetune.isVisible() and not win.calibration.isVisible()

@pytest.mark.slow
def test_the_real_pipeline_drives_the_window(qtbot, demo_clip):  # noqa: ANN001
    """End to end with runtime.pipeline.LivePipeline on the demo clip: video, estimates, a committed transcript."""
    import threading as th

    from emolive.gui.app import live_pipeline

    win = MainWindow(AppConfig(), Sources(video=demo_clip), live_pipeline, persist=False)
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.started, timeout=120_000):
        win.start()
    assert win.pipeline is not None, win.banner.message.text()
    wait_for_frame_and_estimate(qtbot, win)
    qtbot.waitUntil(lambda: len(win.transcript.lines) > 0, timeout=60_000)
    qtbot.waitUntil(lambda: win.plots.points_shown > 10, timeout=10_000)
    before = {t.ident for t in th.enumerate()}
    win.close()
    assert win.pipeline is None
    assert not [t for t in th.enumerate() if t.ident in before and t.name.startswith("emolive-") and t.is_alive()]


def test_a_frozen_picture_and_the_end_of_the_file_are_marked(qtbot, window):  # noqa: ANN001
    wait_for_frame_and_estimate(qtbot, window)
    assert window.video.notice == ""
    assert window._update_notice(window.video.frame.t + 5.0) and window.video.notice == "no new frames for 5 s"
    window.bridge.on_event(SourceEvent(t=1.0, source="file", kind="eof", message="demo.mp4"))
    qtbot.waitUntil(lambda: window.video.notice == "end of the file", timeout=5000)
    assert "End of the file" in window.statusBar().currentMessage()


def test_markers_are_drawn_while_in_view_and_hidden_after(qtbot):  # noqa: ANN001
    from emolive.gui.history import EstimateHistory
    from emolive.gui.plots import EmotionPlots

    plots = EmotionPlots(window_s=30)
    qtbot.addWidget(plots)
    history = EstimateHistory(max_seconds=600.0)
    plots.add_marker(10.0, "start task")
    plots.add_marker(25.0, "laugh")
    plots.refresh(history, now=30.0)
    assert plots.visible_markers() == [(-20.0, "start task"), (-5.0, "laugh")]
    plots.refresh(history, now=50.0)  # the first one has left the 30 s window
    assert plots.visible_markers() == [(-25.0, "laugh")]
