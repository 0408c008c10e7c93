"""glibc malloc settings (emolive.memory): a fixed mmap threshold hands large freed blocks back at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from emolive import memory

ROOT = Path(__file__).resolve().parents[1]
glibc = pytest.mark.skipif(memory._libc() is None, reason="glibc only")

# Free a 16 MB block (glibc then raises its dynamic mmap threshold to 16 MB), then touch and free 8 MB: with the
# default settings those 8 MB stay on the heap; with a fixed threshold they are mmapped and handed back.
_PROBE = """
import ctypes, sys
from emolive import memory
tuned = memory.tune_malloc()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
big = libc.malloc(16 << 20); ctypes.memset(big, 1, 16 << 20); libc.free(big)
before = memory.rss_mb()["anon"]
block = libc.malloc(8 << 20); ctypes.memset(block, 1, 8 << 20); libc.free(block)
print(tuned, memory.rss_mb()["anon"] - before)
"""


def _probe(**env: str) -> tuple[str, float]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", memory.DISABLE_ENV))}
    environment.update(env, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=environment,
                         check=True, timeout=60).stdout.split()
    return out[0], float(out[1])


@glibc
def test_tuned_malloc_hands_a_large_freed_block_back() -> None:
    tuned, kept_mb = _probe()
    assert tuned == "True" and kept_mb < 2


@glibc
def test_the_user_can_keep_glibc_defaults_or_set_the_threshold_himself() -> None:
    tuned, kept_mb = _probe(**{memory.DISABLE_ENV: "1"})
    assert tuned == "False" and kept_mb >= 4  # glibc's dynamic threshold: what the fixed one is for
    tuned, kept_mb = _probe(MALLOC_MMAP_THRESHOLD_="1048576")
    assert tuned == "False" and kept_mb < 2  # glibc applied the user's own setting


def test_tune_malloc_is_a_no_op_off_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_libc", lambda: None)
    assert memory.tune_malloc() is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_rss_is_read_from_proc() -> None:
    figures = memory.rss_mb()
    assert 0 < figures["rss"] <= figures["peak"] and figures["anon"] > 0
