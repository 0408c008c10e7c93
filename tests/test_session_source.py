"""Recorded sessions say what they recorded: a replayed file is named in session.json and `emolive sessions`."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from fakes import Factory  # noqa: E402

from emolive.config import AppConfig  # noqa: E402
from emolive.gui.interfaces import Sources  # noqa: E402
from emolive.gui.main_window import MainWindow  # noqa: E402


def test_a_file_source_is_recorded_and_listed(qtbot, demo_clip, tmp_path, capsys):  # noqa: ANN001
    from emolive.cli import main
    from emolive.recording import SessionRecorder
    from emolive.recording.listing import list_sessions

    recorder = SessionRecorder(AppConfig(), root=tmp_path, raw_audio=False, raw_video=False)
    win = MainWindow(AppConfig(), Sources(video=demo_clip), Factory(), recorder=recorder, persist=False)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.started, timeout=10_000):
        win.start()
    assert win.start_recording()
    folder = win.recording_dir
    qtbot.waitUntil(lambda: recorder.rows_written >= 2, timeout=10_000)
    win.close()
    meta = json.loads((folder / "session.json").read_text())
    assert meta["devices"]["source"] == {"kind": "file", "file": str(demo_clip.resolve())}
    [info] = list_sessions(tmp_path)
    assert info.source == "file demo.mp4"
    assert main(["sessions", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "source" in out.splitlines()[0] and "file demo.mp4" in out


def test_live_sources_are_described(qtbot):  # noqa: ANN001
    win = MainWindow(AppConfig(), Sources(video=None, camera="0", microphone=""), Factory(), persist=False)
    qtbot.addWidget(win)
    assert win.source_description() == {"kind": "live", "camera": "0", "microphone": "default"}
    win.close()
