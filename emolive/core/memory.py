"""Process memory: hand the heap's free pages back to the system (glibc), and measure resident memory.

Loading the models leaves most of their read-in weights as free heap (ONNX Runtime copies the arrays, then
they are freed): glibc keeps freed heap memory resident unless told, ~100 MB after loading here.
``release_free_memory`` (``malloc_trim``) returns it once, after loading; it is not a per-step remedy: glibc's
alternatives that return memory on every free (a fixed ``M_MMAP_THRESHOLD`` of 1 MB) cut the bench's peak RSS
by another 100 MB but made each Whisper decode fault its buffers in again: 2.4x the page faults, +40% CPU.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
import time

log = logging.getLogger(__name__)


def _libc() -> ctypes.CDLL | None:
    """glibc, or None where there is none (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "gnu_get_libc_version") else None


def release_free_memory() -> bool:
    """Return the free pages of every malloc arena to the system (``malloc_trim(0)``); False where unsupported."""
    libc = _libc()
    if libc is None:
        return False
    started = time.perf_counter()
    libc.malloc_trim(ctypes.c_size_t(0))
    log.debug("malloc_trim in %.1f ms", (time.perf_counter() - started) * 1000)
    return True


M_ARENA_MAX = -8  # mallopt's parameter number (glibc malloc.h)
ARENAS = 2  # malloc arenas for the whole process (glibc's default: 8 per core, one per busy thread)


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas before the threads start (False where unsupported, or when the user set
    ``MALLOC_ARENA_MAX``). Each thread that allocates gets an arena of its own by default, and each keeps its
    freed pages. `emolive analyze` uses it: a 114 s clip peaked at 706-725 MB with the default and 621-642 MB with
    2 arenas, for the same CPU time; live (`emolive bench`) it raised the peak by 20-37 MB, so the app does not
    (docs/benchmarks.md)."""
    libc = _libc()
    if libc is None or "MALLOC_ARENA_MAX" in os.environ or not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(ctypes.c_int(M_ARENA_MAX), ctypes.c_int(arenas)))


def rss_mb() -> dict[str, float]:
    """This process's resident memory now and at its peak (MB, from /proc/self/status); empty off Linux."""
    names = {"VmRSS": "rss", "VmHWM": "peak", "RssAnon": "anon", "RssFile": "file"}
    out: dict[str, float] = {}
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in names:
                    out[names[key]] = round(int(value.split()[0]) / 1024, 1)
    except OSError:
        return {}
    return out
