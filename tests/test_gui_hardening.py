"""Issue 39's window findings (markers, minimum size, status after a failed open), with pytest-qt offscreen."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from fakes import Factory, FakeRecorder  # noqa: E402

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
    from emolive.recording import SessionRecorder

    recorder = SessionRecorder(AppConfig(), root=tmp_path, raw_audio=False, raw_video=False)
    win = MainWindow(AppConfig(), Sources(video=demo_clip), factory, recorder=recorder, persist=False)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.started, timeout=10_000):
        win.start()
    assert win.start_recording()
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
