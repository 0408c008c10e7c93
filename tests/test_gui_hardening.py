"""Issue 39's window findings (markers, minimum size, status after a failed open), with pytest-qt offscreen."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

import numpy as np  # noqa: E402
from fakes import Factory, FakeRecorder, recording_window  # noqa: E402

from emolive.config import AppConfig  # noqa: E402
from emolive.gui.interfaces import Sources  # noqa: E402
from emolive.gui.main_window import MainWindow  # noqa: E402


@pytest.fixture
def factory() -> Factory:
    return Factory()


def test_an_unlabelled_marker_is_numbered_and_written(qtbot, factory, demo_clip, tmp_path, monkeypatch):  # noqa: ANN001
    from PySide6.QtWidgets import QInputDialog

    recorder = FakeRecorder()
    win = MainWindow(AppConfig(), Sources(video=demo_clip), factory, recorder=recorder, persist=False)
    qtbot.addWidget(win)
    assert win.start_recording(tmp_path / "session")
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("", True)))  # Ctrl+M, Return
    win.add_marker_dialog()
    assert "Marker added: marker 1" in win.statusBar().currentMessage()
    win.add_marker("laugh")
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("  ", True)))
    win.add_marker_dialog()
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("", False)))  # cancelled
    win.add_marker_dialog()
    win.close()
    assert [c for c in recorder.calls if c[0] == "marker"] == [("marker", "marker 1"), ("marker", "laugh"),
                                                                ("marker", "marker 3")]


def test_a_restart_forgets_the_old_clocks_markers(qtbot, factory, demo_clip, tmp_path):  # noqa: ANN001
    win, recorder = recording_window(qtbot, factory, demo_clip, tmp_path)
    qtbot.waitUntil(lambda: recorder.rows_written >= 2, timeout=10_000)
    win.add_marker("old")
    assert [label for _, label in win.plots.markers] == ["old"]
    with qtbot.waitSignal(win.started, timeout=10_000):
        win.restart()
    assert win.plots.markers == []
    win.plots.refresh(win.history, 1.0)
    assert win.plots.visible_markers() == []
    win.close()


def test_a_broken_settings_file_asks_what_to_do(qtbot, tmp_path, monkeypatch):  # noqa: ANN001
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from emolive.commands import run as run_command
    from emolive.core.errors import ConfigError
    from emolive.gui import config_problem

    broken = tmp_path / "config.toml"
    broken.write_text("[inference\nhop_s = 7\n")
    assert not config_problem.can_show_dialogs()  # offscreen: the error alone, as before
    with pytest.raises(ConfigError):
        run_command._load_or_ask(broken, ())
    box = config_problem.config_problem_box("config file is malformed", broken)
    assert [b.property("choice") for b in box.buttons()].count(None) == 0 and len(box.buttons()) == 3
    opened: list[str] = []
    monkeypatch.setattr(config_problem.QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()))
    monkeypatch.setattr(config_problem, "can_show_dialogs", lambda: True)

    def answer(choice: str) -> None:
        def click() -> None:
            box = next(w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible())
            next(b for b in box.buttons() if b.property("choice") == choice).click()
        QTimer.singleShot(50, click)

    answer(config_problem.DEFAULTS)
    config, persist = run_command._load_or_ask(broken, ())
    assert config == AppConfig() and persist is False
    answer(config_problem.OPEN)
    with pytest.raises(ConfigError):
        run_command._load_or_ask(broken, ())
    assert opened == [str(broken)]
    answer(config_problem.QUIT)
    with pytest.raises(ConfigError):
        run_command._load_or_ask(broken, ())


def test_the_recording_stops_at_the_end_of_the_file(qtbot, factory, demo_clip, tmp_path):  # noqa: ANN001
    from emolive.core.contracts import SourceEvent

    recorder = FakeRecorder()
    win = MainWindow(AppConfig(), Sources(video=demo_clip), factory, recorder=recorder, persist=False)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.started, timeout=10_000):
        win.start()
    assert win.start_recording(tmp_path / "session")
    win.bridge.on_event(SourceEvent(t=14.0, source="file", kind="eof", message="demo.mp4"))
    qtbot.waitUntil(lambda: ("stop",) in recorder.calls, timeout=5000)
    assert win.recording_dir is None and "recording stopped" in win.statusBar().currentMessage()
    assert not win.start_recording(tmp_path / "again")  # nothing more comes from the file
    assert "file has ended" in win.banner.message.text()
    with qtbot.waitSignal(win.started, timeout=10_000):
        win.restart()  # File > Open video... again: recording works again
    assert win.start_recording(tmp_path / "again")
    win.close()


def test_nothing_is_recorded_without_a_source(qtbot, factory, tmp_path):  # noqa: ANN001
    recorder = FakeRecorder()
    win = MainWindow(AppConfig(), Sources(video=None, camera=None, microphone=None), factory, recorder=recorder,
                     persist=False)
    qtbot.addWidget(win)
    assert not win.start_recording(tmp_path / "session")
    assert "no camera, microphone or video" in win.banner.message.text() and recorder.calls == []
    win.close()


def test_the_window_has_a_minimum_size(qtbot, factory, demo_clip):  # noqa: ANN001
    win = MainWindow(AppConfig(), Sources(video=demo_clip), factory, persist=False)
    qtbot.addWidget(win)
    from emolive.gui.main_window import MINIMUM_SIZE
    from emolive.gui.plots import MIN_HEIGHT

    win.show()
    win.resize(800, 500)
    qtbot.waitUntil(lambda: (win.width(), win.height()) == MINIMUM_SIZE, timeout=5000)
    top, plots = win.splitter.sizes()
    assert plots >= MIN_HEIGHT and top >= win.side.minimumSizeHint().height()  # nothing squeezed below its minimum
    assert win.bars.height() >= win.bars.minimumHeight() and win.bars.row_height >= 13
    ticks = win.plots.emotion_plot.getAxis("left")._tickLevels  # three labels: none overlap when the plot is short
    assert [value for value, _ in ticks[0]] == [0.0, 0.5, 1.0]
    win.close()


def test_a_failed_open_video_says_not_running_in_title_and_status(qtbot, demo_clip, tmp_path):  # noqa: ANN001
    from emolive.core.errors import MediaError

    working = Factory()

    def factory(config, sources, sinks):  # noqa: ANN001, ANN202
        if sources.video is not None and sources.video.name == "broken.mp4":
            raise MediaError(f"cannot open {sources.video}: not a readable media file")
        return working(config, sources, sinks)

    win = MainWindow(AppConfig(), Sources(video=demo_clip), factory, persist=False)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.started, timeout=10_000):
        win.start()
    assert win.windowTitle() == "emolive - file demo.mp4"
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video")
    win.open_video(broken)  # refused before anything stops: the demo keeps playing
    assert "Could not open the video" in win.banner.message.text() and len(working.made) == 1
    assert win.windowTitle() == "emolive - file demo.mp4" and win.pipeline is not None
    with qtbot.waitSignal(win.started, timeout=10_000):  # a source that fails only once it starts
        win.restart(sources=Sources(video=broken))
    assert not win.statusBar().currentMessage().startswith("Loading the models")
    assert "not running" in win.windowTitle() and "demo.mp4" not in win.windowTitle()
    win.close()


def test_a_truncated_file_is_said_to_have_ended_early(qtbot, factory, demo_clip):  # noqa: ANN001
    from emolive.capture.media_file import MediaFileSource
    from emolive.core.clock import SessionClock
    from emolive.core.contracts import SourceEvent

    source = MediaFileSource(demo_clip, SessionClock())
    assert source.end_message(source.info.duration) == str(demo_clip)
    early = source.end_message(5.0)
    assert "ended early: played 5.0 of 14.3 s" in early
    win = MainWindow(AppConfig(), Sources(video=demo_clip), factory, persist=False)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.started, timeout=10_000):
        win.start()
    win.bridge.on_event(SourceEvent(t=5.0, source="file", kind="eof", message=early))
    qtbot.waitUntil(lambda: win.ended, timeout=5000)
    win._update_notice(6.0)
    assert win.video.notice == "the file ended early" and "played 5.0 of 14.3 s" in win.statusBar().currentMessage()
    win.close()


def test_a_partial_line_ends_with_one_ellipsis():
    from emolive.core.contracts import TranscriptSegment
    from emolive.gui.transcript import TranscriptModel
    from emolive.gui.transcript_view import render_html

    model = TranscriptModel()
    model.add(TranscriptSegment(text=" So I was thinking...", start=0.0, end=1.0, committed=False,
                                    confidence=0.9))
    html = render_html(model)
    assert "thinking &hellip;" in html and "..." not in html


def test_the_label_never_sits_over_the_chin():
    from emolive.gui.overlay import label_top

    assert label_top(100, 300, 30, 0, 480) == 66  # room above the face: above it
    assert label_top(10, 300, 30, 0, 480) == 304  # no room above: below the box, outside it
    top = label_top(10, 470, 30, 0, 480)  # a face filling the picture: inside its top edge, not at the bottom
    assert top <= 20


def test_an_audio_only_source_is_not_a_capture_warning():
    from emolive.core.contracts import PipelineStatus
    from emolive.gui.status import format_status

    fields = {f.key: f for f in format_status(PipelineStatus(picture=False, capture_fps=None))}
    assert fields["fps"].text == "no picture (audio only)" and not fields["fps"].warn
    assert format_status(PipelineStatus(capture_fps=0.0))[0].warn  # a camera that stopped still warns


def test_the_pipeline_knows_whether_a_source_gives_pictures(tmp_path):  # noqa: ANN001
    from fakes import write_tone_clip

    from emolive.capture.media_file import MediaFileSource
    from emolive.capture.synthetic import SyntheticSource
    from emolive.core.clock import SessionClock
    from emolive.core.rings import AudioRing, FrameRing

    clock, frames, audio = SessionClock(), FrameRing(4), AudioRing(1.0)
    sound = write_tone_clip(tmp_path / "sound.mp4", seconds=1.0, video=False)
    film = write_tone_clip(tmp_path / "film.mp4", seconds=1.0)
    assert not MediaFileSource(sound, clock, frames, audio).gives_pictures
    assert MediaFileSource(film, clock, frames, audio).gives_pictures
    assert SyntheticSource(clock, frames, audio).gives_pictures
    assert not SyntheticSource(clock, None, audio).gives_pictures


def test_finetune_dialog_asks_before_using_a_chance_level_model(qtbot, tmp_path):  # noqa: ANN001
    import sys

    from fakes import FakeSwitcher

    from emolive.gui.finetune_dialog import FineTuneDialog
    from emolive.personal.trainer_protocol import TrainerRun

    pipeline = FakeSwitcher()
    dialog = FineTuneDialog(None, pipeline, AppConfig(), program=[sys.executable, "-c", "pass"],
                            root=tmp_path / "models")
    qtbot.addWidget(dialog)
    from safetensors.numpy import save_file

    (tmp_path / "m").mkdir()
    save_file({"weight_logits": np.zeros(3, np.float32), "class_bias": np.zeros(7, np.float32)},
              str(tmp_path / "m" / "model.safetensors"))
    (tmp_path / "m" / "config.json").write_text('{"kind": "late_fusion"}')
    dialog.run, dialog.run_kind = TrainerRun(), "fusion"
    dialog.run.handle({"event": "epoch", "epoch": 1, "epochs": 1, "train_loss": 1.9, "monitor": "macro_f1",
                       "val": {"macro_f1": 0.03}})
    dialog.plot.show_run(dialog.run.losses, dialog.run.scores, "macro_f1")
    assert dialog.plot.loss_curve.opts["symbol"] == "o"  # one epoch is a visible point, not an empty line
    dialog.run.handle({"event": "done", "monitor": "macro_f1", "out": str(tmp_path / "m"), "before": {},
                       "after": {"macro_f1": 0.03, "accuracy": 0.1429}})
    asked: list[str] = []
    dialog.confirm = lambda question: asked.append(question) or False
    dialog.use_model()
    assert "chance level" in asked[0] and pipeline.swaps == [] and "Kept the current model" in dialog.status.text()
    dialog.confirm = lambda question: True
    dialog.use_model()
    qtbot.waitUntil(lambda: len(pipeline.swaps) == 1, timeout=5000)
