"""`emolive analyze` as a batch tool: probing first, truncated files, resume, many files (stand-in models)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes import crash_analysis_after, write_tone_clip

from emolive.cli import main
from emolive.offline import loaders
from emolive.offline.sidecar import read_sidecar
from emolive.recording import schema

HELPER = Path(__file__).parent / "helpers" / "fake_analyze.py"
LATENCY = schema.header().index("latency_ms")


pytestmark = pytest.mark.usefixtures("no_user_config")



def rows_of(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return [[c for i, c in enumerate(row) if i != LATENCY] for row in csv.reader(handle)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_tone_clip(tmp_path_factory.mktemp("media") / "talk.mp4")


@pytest.mark.parametrize("kind", ["empty", "random", "folder"])
def test_bad_input_is_rejected_before_any_model_loads_and_writes_nothing(tmp_path, monkeypatch, capsys, kind):
    def no_models(*_):
        raise AssertionError("models loaded for a bad file")

    monkeypatch.setattr(loaders, "channels", no_models)
    bad = tmp_path / "in" / "bad.mp4"
    bad.parent.mkdir()
    if kind == "empty":
        bad.write_bytes(b"")
    elif kind == "random":
        bad.write_bytes(os.urandom(50_000))
    else:
        bad.mkdir()
    before = sorted(tmp_path.rglob("*"))
    code = main(["analyze", str(bad), "--no-progress"])
    assert code != 0
    err = capsys.readouterr().err
    assert "emolive: error:" in err and "Traceback" not in err
    assert sorted(tmp_path.rglob("*")) == before


def test_truncated_file_reports_the_duration_reached_and_fails_unless_allowed(tmp_path, demo_clip, fakes, capsys):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(demo_clip.read_bytes()[:100_000])
    out = tmp_path / "cut.csv"
    assert main(["analyze", str(cut), "-o", str(out), "--no-asr", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "ended early: analysed 3." in err and "of 14.3 s" in err and "--allow-partial" in err
    assert not out.exists() and (tmp_path / "cut.csv.partial").exists()
    assert main(["analyze", str(cut), "-o", str(out), "--no-asr", "--no-progress", "--allow-partial"]) == 0
    assert read_sidecar(out)["status"] == "partial"
    assert 30 <= len(rows_of(out)) - 1 <= 34


def test_resume_after_an_exception_gives_the_uninterrupted_csv(tmp_path, clip, fakes, monkeypatch):
    whole = tmp_path / "whole.csv"
    assert main(["analyze", str(clip), "-o", str(whole), "--no-progress"]) == 0
    import emolive.offline.analysis as analysis

    out = tmp_path / "cut.csv"
    real = crash_analysis_after(monkeypatch, 23, RuntimeError)
    with pytest.raises(RuntimeError, match="power cut"):
        main(["analyze", str(clip), "-o", str(out), "--no-progress"])
    partial = tmp_path / "cut.csv.partial"
    with partial.open("a") as handle:  # the process died while writing a row
        handle.write("2.4,0.1,0.2")
    monkeypatch.setattr(analysis, "analyze_file", real)
    assert main(["analyze", str(clip), "-o", str(out), "--no-progress", "--resume"]) == 0
    assert not partial.exists()
    assert rows_of(out) == rows_of(whole)
    assert read_sidecar(out)["resumed"] is True


def test_resume_after_sigkill_gives_the_uninterrupted_csv(tmp_path, clip):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "FAKE_STEP_DELAY": "0.03",
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    whole, out = tmp_path / "whole.csv", tmp_path / "out.csv"
    cmd = [sys.executable, str(HELPER), "analyze", str(clip), "--no-progress"]
    assert subprocess.run([*cmd, "-o", str(whole)], env={**env, "FAKE_STEP_DELAY": "0"}, timeout=120).returncode == 0
    proc = subprocess.Popen([*cmd, "-o", str(out)], env=env)
    partial = tmp_path / "out.csv.partial"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if partial.exists() and partial.read_text().count("\n") >= 21:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert partial.exists() and not out.exists()
    assert 20 <= partial.read_text().count("\n") - 1 < len(rows_of(whole)) - 1
    assert subprocess.run([*cmd, "-o", str(out), "--resume"], env=env, timeout=120).returncode == 0
    assert rows_of(out) == rows_of(whole)


def test_resume_refuses_other_settings(tmp_path, clip, fakes, capsys):
    out = tmp_path / "o.csv"
    assert main(["analyze", str(clip), "-o", str(out), "--no-progress", "--allow-partial"]) == 0
    os.replace(out, tmp_path / "o.csv.partial")
    code = main(["analyze", str(clip), "-o", str(out), "--no-progress", "--resume", "--set", "inference.hop_s=0.2"])
    assert code == 2
    err = capsys.readouterr().err
    assert "other models or settings" in err and "settings.inference.hop_s" in err
    assert (tmp_path / "o.csv.partial").exists() and not out.exists()


def test_batch_with_one_corrupt_file_finishes_the_others_and_lists_the_failure(tmp_path, fakes, capsys):
    folder = tmp_path / "study"
    folder.mkdir()
    write_tone_clip(folder / "a.mp4", seconds=3.0)
    write_tone_clip(folder / "b.mp4", seconds=2.0, video=False)
    (folder / "broken.mp4").write_bytes(b"\x00garbage" * 500)
    extra = tmp_path / "other"
    extra.mkdir()
    write_tone_clip(extra / "c.mp4", seconds=2.0)
    outdir = tmp_path / "out"
    code = main(["analyze", str(folder), str(extra / "*.mp4"), "-o", str(outdir), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1
    assert "failed:" in captured.err and "broken.mp4" in captured.err.split("failed:")[1]
    assert "4 files: 3 done, 1 failed" in captured.out
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        assert (outdir / f"{name}.emolive.csv").is_file() and (outdir / f"{name}.emolive.json").is_file()
    assert not any(outdir.glob("broken*"))
    with (outdir / "summary.csv").open(newline="") as handle:
        summary = {Path(r["file"]).name: r for r in csv.DictReader(handle)}
    assert set(summary) == {"a.mp4", "b.mp4", "c.mp4", "broken.mp4"}
    assert summary["broken.mp4"]["status"] == "failed" and "cannot open" in summary["broken.mp4"]["error"]
    a = summary["a.mp4"]
    assert a["status"] == "done" and a["error"] == "" and abs(float(a["duration_s"]) - 3.0) < 0.2
    shares = [float(v) for k, v in a.items() if k.startswith("share_")]
    assert abs(sum(shares) - 1.0) < 1e-3 and 0.0 <= float(a["mean_valence"]) <= 1.0

    before = (outdir / "a.mp4.emolive.csv").stat().st_mtime_ns
    code = main(["analyze", str(folder), str(extra / "*.mp4"), "-o", str(outdir), "--no-progress"])
    assert code == 1 and "3 skipped, 1 failed" in capsys.readouterr().out
    assert (outdir / "a.mp4.emolive.csv").stat().st_mtime_ns == before
    with (outdir / "summary.csv").open(newline="") as handle:
        again = {Path(r["file"]).name: r for r in csv.DictReader(handle)}
    assert again["a.mp4"]["status"] == "skipped" and again["a.mp4"]["share_neutral"] == a["share_neutral"]
    (folder / "broken.mp4").unlink()
    code = main(["analyze", str(folder), "-o", str(outdir), "--no-progress", "--overwrite"])
    assert code == 0 and "2 done" in capsys.readouterr().out
    assert (outdir / "a.mp4.emolive.csv").stat().st_mtime_ns != before


def test_batch_progress_lines_per_file_and_overall_when_not_a_terminal(tmp_path, fakes, capsys):
    for name in ("a", "b"):
        write_tone_clip(tmp_path / f"{name}.mp4", seconds=2.0)
    assert main(["analyze", str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4"), "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    assert any(line.startswith("a.mp4: ") and "x real time" in line for line in err.splitlines())
    overall = [line for line in err.splitlines() if line.startswith("2 files: ")]
    assert overall and overall[-1].startswith("2 files: 4.0/4.0 s (100%)")
