"""SessionRecorder: folders, rows, markers, transcript, sidecar, flush cadence and failures."""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from fakes import make_estimate

from emolive.core.clock import SessionClock
from emolive.core.contracts import TranscriptSegment, Word
from emolive.recording import RecordingError, SessionRecorder, read_csv
from emolive.recording.files import AppendFile
from emolive.recording.session import create_session_folder
from emolive.recording.writer import SyncPolicy


@pytest.fixture(autouse=True)
def fake_assets(tmp_path, monkeypatch):
    """A tiny assets folder so the sidecar's checksums are fast and known."""
    assets = tmp_path / "assets"
    (assets / "face").mkdir(parents=True)
    (assets / "face" / "model.safetensors").write_bytes(b"weights")
    (assets / "face" / "config.json").write_text('{"arch": "tiny"}')
    monkeypatch.setenv("EMOLIVE_ASSETS", str(assets))
    return assets


def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_sync_policy():
    policy = SyncPolicy(0.5)
    assert policy.timeout(10.0) is None and not policy.due(10.0)
    policy.wrote(10.0)
    policy.wrote(10.3)  # the deadline counts from the first unsynced write
    assert policy.timeout(10.1) == pytest.approx(0.4)
    assert not policy.due(10.49) and policy.due(10.5)
    policy.synced()
    assert not policy.due(20.0) and policy.timeout(20.0) is None
    with pytest.raises(ValueError):
        SyncPolicy(0)


def test_folders_are_never_reused(tmp_path):
    now = datetime(2026, 1, 2, 3, 4, 5)
    first = create_session_folder(tmp_path, now=now)
    (first / "session.csv").write_text("keep me")
    second = create_session_folder(tmp_path, now=now)
    third = create_session_folder(folder=first)
    assert first.name == "20260102-030405" and second.name == "20260102-030405-2"
    assert third.name == "20260102-030405-3"
    assert (first / "session.csv").read_text() == "keep me"


def test_start_twice_never_overwrites(tmp_path):
    recorder = SessionRecorder(clock=SessionClock(), root=tmp_path)
    folders = []
    for _ in range(2):
        folders.append(recorder.start())
        recorder.write(make_estimate(1.0))
        recorder.stop()
    assert folders[0] != folders[1]
    assert all(len(read_csv(f / "session.csv")) == 1 for f in folders)
    target = tmp_path / "chosen"
    assert recorder.start(target) == target
    with pytest.raises(RuntimeError):
        recorder.start()
    recorder.stop()
    assert recorder.start(target) == tmp_path / "chosen-2"
    recorder.stop()


def test_rows_markers_transcript_and_sidecar(tmp_path, fake_assets):
    clock = SessionClock()
    recorder = SessionRecorder(clock=clock, root=tmp_path, devices={"camera": "fake"})
    assert not recorder.recording and recorder.write(make_estimate(0.0)) is False
    folder = recorder.start()
    assert recorder.recording
    for i in range(5):
        assert recorder.write(make_estimate(0.1 * i, level=i / 5))
    t_marker = recorder.add_marker("laugh")
    assert recorder.add_marker() is not None
    words = (Word("hi", 0.1, 0.3, 0.9), Word("there", 0.3, 0.6, 0.8))
    assert recorder.add_segment(TranscriptSegment("hi there", 0.1, 0.6, True, 0.85, words, t_emitted=0.9))
    assert not recorder.add_segment(TranscriptSegment("draft", 0.7, 0.9, False, 0.5))
    assert recorder.stop() == folder and not recorder.recording

    rows = read_csv(folder / "session.csv")
    markers = [r for r in rows if r["marker"]]
    assert len(rows) == 7 and [m["marker"] for m in markers] == ["laugh", "marker 2"]
    assert markers[0]["t"] == pytest.approx(t_marker, abs=1e-4) and markers[0]["emo_joy"] is None
    lines = (folder / "transcript.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["words"][1] == {"text": "there", "start": 0.3, "end": 0.6,
                                                                   "probability": 0.8}
    meta = json.loads((folder / "session.json").read_text())
    assert meta["csv_schema"] == 4 and meta["app_version"] and meta["started_utc"].endswith("+00:00")
    assert meta["stop_reason"] == "stopped" and meta["rows"] == 5 and meta["markers"] == 2
    assert meta["devices"]["camera"] == "fake" and "python" in meta["devices"]
    import hashlib

    assert meta["models"]["face"]["sha256"] == hashlib.sha256(b"weights").hexdigest()
    assert meta["models"]["face"]["config"] == {"arch": "tiny"}


def test_markers_without_clock_follow_the_estimates(tmp_path):
    recorder = SessionRecorder(root=tmp_path)  # as the GUI builds it: no clock attached
    folder = recorder.start()
    recorder.on_estimate(make_estimate(100.0))
    t = recorder.add_marker("x")
    recorder.stop()
    assert 100.0 <= t < 105.0
    assert read_csv(folder / "session.csv")[-1]["t"] == pytest.approx(t, abs=1e-4)


def test_config_sections_are_accepted(tmp_path):
    from emolive.config import AppConfig, RecordingConfig

    recording = RecordingConfig(directory=str(tmp_path / "here"), raw_audio=False, raw_video=False)
    for config in (recording, AppConfig(recording=recording)):
        recorder = SessionRecorder(config)
        folder = recorder.start()
        recorder.stop()
        assert folder.parent == tmp_path / "here"
        assert not (folder / "audio.wav").exists()


def test_rows_reach_disk_without_stop(tmp_path):
    """Flush cadence: rows are on disk while the recorder is still running (no stop, no more writes)."""
    recorder = SessionRecorder(clock=SessionClock(), root=tmp_path, sync_interval=0.2)
    folder = recorder.start()
    for i in range(3):
        recorder.write(make_estimate(0.1 * i))
    assert wait_for(lambda: len(read_csv(folder / "session.csv")) == 3)
    recorder.write(make_estimate(0.5))
    assert wait_for(lambda: len(read_csv(folder / "session.csv")) == 4)
    assert recorder.recording
    recorder.stop()


def test_full_disk_stops_recording_with_a_clear_message(tmp_path, monkeypatch):
    errors: list[str] = []
    reported = threading.Event()

    def on_error(message: str) -> None:
        errors.append(message)
        reported.set()

    recorder = SessionRecorder(clock=SessionClock(), root=tmp_path, on_error=on_error, sync_interval=0.1)
    folder = recorder.start()
    recorder.write(make_estimate(0.0))
    assert wait_for(lambda: len(read_csv(folder / "session.csv")) == 1)

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(AppendFile, "append", full)
    recorder.write(make_estimate(0.1))
    assert reported.wait(10)
    assert len(errors) == 1 and "disk is full" in errors[0] and str(folder) in errors[0]
    assert not recorder.recording and recorder.error == errors[0]
    assert recorder.write(make_estimate(0.2)) is False and recorder.add_marker() is None  # no crash
    recorder.stop()
    monkeypatch.undo()
    assert len(read_csv(folder / "session.csv")) == 1  # what was written stays readable
    meta = json.loads((folder / "session.json").read_text())
    assert meta["stop_reason"] == "error" and "disk is full" in meta["error"]
    assert recorder.start() != folder  # the app can record again afterwards
    recorder.stop()


def test_partial_write_is_cut_back(tmp_path, monkeypatch):
    handle = AppendFile(tmp_path / "f.csv")
    handle.append(b"a,b\n")
    real_write = os.write

    def half_then_full(fd, data):
        if len(data) > 2:
            return real_write(fd, bytes(data[:2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError):
        handle.append(b"1,2\n")
    monkeypatch.undo()
    handle.close()
    assert (tmp_path / "f.csv").read_bytes() == b"a,b\n"


def test_vanished_folder_stops_recording(tmp_path):
    import shutil

    errors: list[str] = []
    recorder = SessionRecorder(clock=SessionClock(), root=tmp_path, on_error=errors.append, sync_interval=0.1)
    folder = recorder.start()
    recorder.write(make_estimate(0.0))
    assert wait_for(lambda: (folder / "session.json").exists() and len(read_csv(folder / "session.csv")) == 1)
    while folder.exists():  # the writer may add a file while the tree is being removed: remove again
        shutil.rmtree(folder, ignore_errors=True)
    recorder.write(make_estimate(0.1))
    assert wait_for(lambda: bool(errors))
    assert "recording stopped" in errors[0] and "does not exist" in errors[0]
    assert not recorder.recording
    recorder.stop()


def test_unwritable_target_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    recorder = SessionRecorder(clock=SessionClock(), root=blocker / "sessions")
    with pytest.raises(RecordingError, match="not a folder"):
        recorder.start()
    assert not recorder.recording


def test_read_only_folder_is_a_clear_error(tmp_path, monkeypatch):
    """A folder the user may not write to (simulated: root, as CI runs, ignores folder permissions)."""
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if self.parent == tmp_path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    with pytest.raises(RecordingError, match="permission denied") as caught:
        SessionRecorder(clock=SessionClock(), root=tmp_path).start()
    assert str(tmp_path) in str(caught.value)
