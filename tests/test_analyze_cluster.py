"""`emolive analyze --cluster local:2`: the per-file jobs run on a 2-worker Dask LocalCluster (real models)."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest
from fakes import write_tone_clip

pytest.importorskip("distributed")


def test_two_clips_on_a_two_worker_local_cluster(tmp_path):
    """Relative paths stay relative in the summary (as with --workers); Dask's INFO logs only with -v."""
    clips = [write_tone_clip(tmp_path / f"clip{i}.mp4", seconds=2.0) for i in range(2)]
    out = tmp_path / "shared" / "results"
    result = subprocess.run([sys.executable, "-m", "emolive", "analyze", *(c.name for c in clips),
                             "-o", "shared/results", "--cluster", "local:2", "--no-asr", "--no-progress"],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path,
                            env={**__import__("os").environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 files: 2 done" in result.stdout
    assert " INFO " not in result.stderr and "distributed." not in result.stderr, result.stderr[-2000:]
    with (out / "summary.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["status"] for r in rows] == ["done", "done"]
    assert [(r["file"], r["csv"]) for r in rows] == [(f"clip{i}.mp4", f"shared/results/clip{i}.mp4.emolive.csv")
                                                     for i in range(2)]
    for clip in clips:
        with (out / f"{clip.name}.emolive.csv").open(newline="") as handle:
            assert len(list(csv.reader(handle))) - 1 == 20  # 2 s at one row per 0.1 s
        assert (out / f"{clip.name}.emolive.json").is_file()


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path):
    clip = write_tone_clip(tmp_path / "c.mp4", seconds=1.0)
    result = subprocess.run([sys.executable, "-m", "emolive", "analyze", str(clip), "-o", str(tmp_path / "o"),
                             "--cluster", "tcp://127.0.0.1:9", "--no-asr", "--no-progress"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "cannot reach the Dask scheduler" in result.stderr and "Traceback" not in result.stderr
