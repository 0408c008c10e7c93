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
from helpers.analysis_fakes import write_tone_clip
from helpers.fake_analyze import install

import emolive.batch as batch
from emolive.cli import main
from emolive.recording import schema

HELPER = Path(__file__).parent / "helpers" / "fake_analyze.py"
LATENCY = schema.header().index("latency_ms")


@pytest.fixture(autouse=True)
def no_user_config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture
def fakes(monkeypatch):
    install(monkeypatch.setattr)


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

    monkeypatch.setattr(batch, "_channels", no_models)
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
    assert batch.read_sidecar(out)["status"] == "partial"
    assert 30 <= len(rows_of(out)) - 1 <= 34


def test_resume_after_an_exception_gives_the_uninterrupted_csv(tmp_path, clip, fakes, monkeypatch):
    whole = tmp_path / "whole.csv"
    assert main(["analyze", str(clip), "-o", str(whole), "--no-progress"]) == 0
    import emolive.analysis as analysis

    real = analysis.analyze_file

    def crash_after(n):
        def analyze(*args, on_estimate=None, **kwargs):
            count = 0

            def counted(estimate):
                nonlocal count
                count += 1
                if count > n:
                    raise RuntimeError("power cut")
                on_estimate(estimate)

            return real(*args, on_estimate=counted, **kwargs)
        return analyze

    out = tmp_path / "cut.csv"
    monkeypatch.setattr(analysis, "analyze_file", crash_after(23))
    with pytest.raises(RuntimeError, match="power cut"):
        main(["analyze", str(clip), "-o", str(out), "--no-progress"])
    partial = tmp_path / "cut.csv.partial"
    with partial.open("a") as handle:  # the process died while writing a row
        handle.write("2.4,0.1,0.2")
    monkeypatch.setattr(analysis, "analyze_file", real)
    assert main(["analyze", str(clip), "-o", str(out), "--no-progress", "--resume"]) == 0
    assert not partial.exists()
    assert rows_of(out) == rows_of(whole)
    assert batch.read_sidecar(out)["resumed"] is True


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
