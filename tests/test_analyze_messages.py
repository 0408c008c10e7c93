"""`emolive analyze` as a new user meets it: full or read-only output folders, bad --cluster values, messages
that name each path once, a resumed run that says so (stand-in models)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from fakes import crash_analysis_after, write_tone_clip

from emolive.cli import main

pytestmark = pytest.mark.usefixtures("no_user_config")



def fail_writes_under(monkeypatch, folder: Path, code: int) -> None:
    """Text files opened for writing under ``folder`` fail as on a full disk (created empty, then ENOSPC) or a
    read-only file system (EROFS, nothing created)."""
    real_open = Path.open

    def open_(self, mode="r", *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if "w" in mode and folder in self.parents:
            if code == errno.ENOSPC:
                real_open(self, mode, *args, **kwargs).close()
            raise OSError(code, "No space left on device" if code == errno.ENOSPC else "Read-only file system",
                          str(self))
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", open_)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_batch_into_a_full_or_read_only_folder_fails_file_by_file_then_clearly(tmp_path, fakes, monkeypatch,
                                                                                  capsys, code):
    clips = [write_tone_clip(tmp_path / f"{name}.mp4", seconds=1.0) for name in ("a", "b")]
    out = tmp_path / "out"
    out.mkdir()
    fail_writes_under(monkeypatch, out, code)
    rc = main(["analyze", *map(str, clips), "-o", str(out), "--no-progress", "--no-asr"])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert err.count("(its sidecar") == 2 * 2  # each file: when it failed, and in the closing list
    assert f"emolive: error: cannot write {out / 'summary.csv'}:" in err
    assert not list(out.glob("*.tmp")), "a failed write left a temporary file"


def test_cluster_values_that_cannot_work_are_refused_before_any_work(tmp_path, fakes, capsys):
    clip = write_tone_clip(tmp_path / "c.mp4", seconds=1.0)
    cases = {("--cluster", "banana"): "expected a Dask scheduler address",
             ("--cluster", "local:0"): "expected local:N with N at least 1",
             ("--cluster", "local:two"): "expected local:N",
             ("--workers", "2", "--cluster", "local:2"): "--workers and --cluster do not go together",
             ("--workers", "0"): "--workers must be at least 1"}
    for extra, message in cases.items():
        rc = main(["analyze", str(clip), "-o", str(tmp_path / "o"), "--no-asr", "--no-progress", *extra])
        err = capsys.readouterr().err
        assert rc == 2 and message in err and "Traceback" not in err, (extra, err)
    assert not (tmp_path / "o").exists()


def test_batch_messages_name_each_file_once(tmp_path, demo_clip, fakes, capsys):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(demo_clip.read_bytes()[:100_000])
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00garbage" * 500)
    good = write_tone_clip(tmp_path / "good.mp4", seconds=1.0)
    assert main(["analyze", str(cut), str(broken), str(good), "-o", str(tmp_path / "out"), "--no-asr",
                 "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert f"{cut} ended early" in err and f"cannot open {broken}" in err
    assert f"{cut}: {cut}" not in err and f"{broken}: cannot open {broken}" not in err


def test_a_resumed_run_says_so_and_what_its_speed_counts(tmp_path, fakes, monkeypatch, capsys):
    import emolive.offline.analysis as analysis

    clip = write_tone_clip(tmp_path / "talk.mp4", seconds=6.0)
    out = tmp_path / "talk.csv"
    real = crash_analysis_after(monkeypatch, 45, RuntimeError)
    with pytest.raises(RuntimeError, match="power cut"):
        main(["analyze", str(clip), "-o", str(out), "--no-progress", "--checkpoint-every", "2"])
    monkeypatch.setattr(analysis, "analyze_file", real)
    capsys.readouterr()
    assert main(["analyze", str(clip), "-o", str(out), "--resume"]) == 0
    captured = capsys.readouterr()
    line = captured.out.splitlines()[0]
    assert "resumed at 4.0 s: 2.0 s computed at " in line and "x real time" in line
    progress = [x for x in captured.err.splitlines() if x.startswith("talk.mp4: ")]
    assert progress and all(", resumed at 4.0 s, " in x for x in progress), captured.err

    out2 = tmp_path / "again.csv"  # no snapshot to start from: the start is computed again, and it says so
    crash_analysis_after(monkeypatch, 15, RuntimeError)
    with pytest.raises(RuntimeError, match="power cut"):
        main(["analyze", str(clip), "-o", str(out2), "--no-progress", "--checkpoint-every", "0"])
    monkeypatch.setattr(analysis, "analyze_file", real)
    capsys.readouterr()
    assert main(["analyze", str(clip), "-o", str(out2), "--no-progress", "--resume"]) == 0
    assert "resumed, the start computed again: " in capsys.readouterr().out


def test_a_model_refused_at_load_marks_the_sidecar_failed(tmp_path, capsys) -> None:
    import json

    clip = write_tone_clip(tmp_path / "clip.mp4", seconds=1.0)
    out = tmp_path / "out" / "clip.csv"
    code = main(["analyze", str(clip), "-o", str(out), "--no-asr", "--no-progress",
                 "--set", f"inference.face_model={tmp_path / 'no_such_model'}"])
    assert code == 2 and "no_such_model" in capsys.readouterr().err
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["status"] == "failed" and "no_such_model" in sidecar["error"]  # was left "running"
