"""Issue 39 item 18: a disk that fills up during a recording still gets the final session.json saying so."""

from __future__ import annotations

import errno
import json
import time

from fakes import make_estimate

from emolive.core.clock import SessionClock
from emolive.recording import SessionRecorder
from emolive.recording import writer as writer_module
from emolive.recording.files import AppendFile
from emolive.recording.listing import list_sessions


def wait_for(condition, timeout: float = 10.0) -> bool:  # noqa: ANN001
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_the_final_sidecar_is_written_after_the_disk_fills_up(tmp_path, monkeypatch):
    errors: list[str] = []
    recorder = SessionRecorder(clock=SessionClock(), root=tmp_path, on_error=errors.append, sync_interval=0.1,
                               raw_audio=False, raw_video=False)
    folder = recorder.start()
    reserve = folder / writer_module.RESERVE_NAME
    assert wait_for(lambda: (folder / "session.json").is_file() and reserve.is_file()
                    and reserve.stat().st_size == writer_module.RESERVE_BYTES)  # written by the recording's thread
    real_write = writer_module.write_json_atomic

    def full_until_the_reserve_is_freed(path, data):  # noqa: ANN001, ANN202 - a full disk: no new blocks
        if reserve.exists():
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, data)

    def full(self, data):  # noqa: ANN001, ANN202
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer_module, "write_json_atomic", full_until_the_reserve_is_freed)
    monkeypatch.setattr(AppendFile, "append", full)
    recorder.write(make_estimate(0.1))
    assert wait_for(lambda: bool(errors))
    recorder.stop()
    monkeypatch.undo()
    meta = json.loads((folder / "session.json").read_text())
    assert meta["stop_reason"] == "error" and "disk is full" in meta["error"]
    assert not reserve.exists() and not list(folder.glob("*.tmp"))
    [listed] = list_sessions(tmp_path)
    assert "disk is full" in listed.error


def test_a_normal_recording_leaves_no_reserve(tmp_path):
    recorder = SessionRecorder(clock=SessionClock(), root=tmp_path, raw_audio=False, raw_video=False)
    folder = recorder.start()
    recorder.write(make_estimate(0.0))
    recorder.stop()
    assert sorted(p.name for p in folder.iterdir()) == ["session.csv", "session.json"]
