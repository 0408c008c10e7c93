"""emolive.core.memory: freed heap memory goes back to the system after loading; resident memory is measured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from emolive.core import memory

ROOT = Path(__file__).resolve().parents[1]

# Free a 16 MB block (glibc then raises its dynamic mmap threshold to 16 MB), then touch and free 8 MB: those
# 8 MB stay on the heap, resident, until release_free_memory hands them back.
_PROBE = """
import ctypes
from emolive.core import memory
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
big = libc.malloc(16 << 20); ctypes.memset(big, 1, 16 << 20); libc.free(big)
before = memory.rss_mb()["anon"]
block = libc.malloc(8 << 20); ctypes.memset(block, 1, 8 << 20); libc.free(block)
kept = memory.rss_mb()["anon"] - before
released = memory.release_free_memory()
print(kept, released, memory.rss_mb()["anon"] - before)
"""


@pytest.mark.skipif(memory._libc() is None, reason="glibc only")
def test_release_free_memory_hands_freed_heap_back() -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    environment["PYTHONPATH"] = str(ROOT)
    kept, released, after = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                                           env=environment, check=True, timeout=60).stdout.split()
    assert float(kept) >= 4 and released == "True" and float(after) < 2


def test_release_free_memory_is_a_no_op_off_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_libc", lambda: None)
    assert memory.release_free_memory() is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_rss_is_read_from_proc() -> None:
    figures = memory.rss_mb()
    assert 0 < figures["rss"] <= figures["peak"] and figures["anon"] > 0


def test_the_live_pipeline_releases_free_memory_once_its_models_are_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    from emolive.config import AppConfig
    from emolive.runtime import pipeline as pipeline_module
    from emolive.runtime.channels import Channels

    calls: list[int] = []
    monkeypatch.setattr(pipeline_module, "release_free_memory", lambda: calls.append(1) or True)
    live = pipeline_module.LivePipeline(AppConfig(), camera=None, microphone=None, asr=False, channels=Channels())
    live.start()
    try:
        assert calls == [1]
    finally:
        live.stop()


_ARENAS = """
import ctypes, sys, threading
from emolive.core import memory
if sys.argv[1] == "limit":
    assert memory.limit_malloc_arenas(1)
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
ready = threading.Barrier(4)
def work():
    ready.wait()
    libc.malloc(4096)
threads = [threading.Thread(target=work) for _ in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
libc.malloc_stats()
"""


@pytest.mark.skipif(memory._libc() is None, reason="glibc only")
@pytest.mark.parametrize(("mode", "more_than_one"), [("limit", False), ("default", True)])
def test_limit_malloc_arenas_keeps_threads_in_one_heap(mode: str, more_than_one: bool) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    environment["PYTHONPATH"] = str(ROOT)
    report = subprocess.run([sys.executable, "-c", _ARENAS, mode], capture_output=True, text=True,
                            env=environment, check=True, timeout=60).stderr
    arenas = sum(line.startswith("Arena ") for line in report.splitlines())
    assert arenas >= 1 and (arenas > 1) == more_than_one


def test_a_user_s_malloc_arena_max_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert memory.limit_malloc_arenas() is False
