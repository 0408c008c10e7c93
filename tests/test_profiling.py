"""The CPU profile by stage: nested stages count once, the stages of a real analysis add up to the process's CPU."""

from __future__ import annotations

import json
import threading

from emolive.cli import main
from emolive.runtime import profiling
from emolive.runtime.profiling import CpuProfile


def _spin(seconds: float) -> None:
    import time

    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


class _Part:
    def __init__(self, profile: CpuProfile) -> None:
        self.inner = profile.timed("inner", lambda: _spin(0.05))

    def work(self) -> None:
        _spin(0.05)
        self.inner()

    def items(self):
        for _ in range(3):
            _spin(0.01)
            yield 1


def test_nested_stages_count_once_and_generators_count_per_item():
    profile = CpuProfile()
    part = _Part(profile)
    profile.wrap(part, "work", "outer")
    profile.wrap(part, "items", "gen")
    profile.start()
    part.work()
    assert sum(part.items()) == 3
    profile.stop(media_s=1.0)
    rows = profile.rows()
    assert 0.04 <= rows["outer"] < 0.09  # its own spin, not the inner one's
    assert 0.04 <= rows["inner"] < 0.09
    assert 0.025 <= rows["gen"] < 0.06  # the work between the items, counted while they are pulled
    assert abs(sum(rows.values()) - profile.total) < 1e-9  # unattributed closes the sum
    profile.unwrap()
    assert "work" not in vars(part) and "items" not in vars(part)


def test_nothing_counts_outside_start_and_stop():
    profile = CpuProfile()
    stage = profile.timed("late", lambda: _spin(0.03))
    stage()
    profile.start()
    profile.stop(media_s=1.0)
    stage()
    assert profile.rows().get("late", 0.0) == 0.0


def test_watched_thread_counts_what_its_stages_do_not():
    profile = CpuProfile()
    inner = profile.timed("inside", lambda: _spin(0.04))
    go, done, end = threading.Event(), threading.Event(), threading.Event()

    def loop() -> None:  # alive until the profile stops: a watched thread is read at the end
        go.wait()
        _spin(0.04)
        inner()
        done.set()
        end.wait(10)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    profile.start()
    profile.watch(thread, "rest")
    go.set()
    assert done.wait(10)
    profile.stop(media_s=1.0)
    end.set()
    rows = profile.rows()
    assert 0.03 <= rows["rest"] < 0.08 and 0.03 <= rows["inside"] < 0.08


def test_native_threads_go_to_the_stage_that_waits_on_them():
    assert profiling.native_stages("av:h264:df0", {}) == [profiling.DECODE_NATIVE]
    assert profiling.native_stages("python", {}) == [profiling.NATIVE_WORKERS]
    assert profiling.native_stages("python", {"a": 1, "b": 0}) == ["a" + profiling.NATIVE_SUFFIX]
    assert len(profiling.native_stages("python", {"a": 1, "b": 2})) == 2


def test_analyze_profile_stages_add_up_to_the_process_total(tmp_path, demo_clip, capsys):
    code = main(["analyze", str(demo_clip), "-o", str(tmp_path / "demo.csv"), "--profile", "--json",
                 "--no-progress"])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    profile = result["profile"]
    stages = {name: row["cpu_s"] for name, row in profile["stages"].items()}
    named = sum(v for k, v in stages.items() if k != profiling.UNATTRIBUTED)
    assert profile["cpu_s"] > 0 and abs(named - profile["cpu_s"]) <= 0.10 * profile["cpu_s"]
    for stage in (profiling.DECODE, profiling.COLOUR, profiling.DETECT, profiling.FACE_CNN, profiling.VAD,
                  profiling.VOICE_ENCODER, profiling.ASR_DECODE, profiling.TEXT, profiling.FUSION,
                  profiling.RECORDING):
        assert stages[stage] > 0, stage
    assert abs(profile["media_s"] - result["media_s"]) < 1e-6
