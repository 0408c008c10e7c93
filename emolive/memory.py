"""Process memory: glibc malloc settings that keep the live app's resident memory down, and its measurement.

glibc raises its mmap threshold to the size of each large block freed (up to 32 MB), so after the first
few-MB arrays of a step (Whisper features, decoded frames, ONNX Runtime outputs) every later one comes from
the heap, whose freed middle is never handed back: the heap only grows. A fixed threshold sends blocks of
``MMAP_THRESHOLD`` and more to mmap, returned at once when freed. Measured on the demo clip (``emolive bench``):
peak RSS 718-728 MB by default, 582 MB with a fixed 1 MB threshold.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger(__name__)

MMAP_THRESHOLD = 1 << 20  # bytes: a 640x480 BGR frame (900 kB) stays on the heap, feature arrays do not
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
DISABLE_ENV = "EMOLIVE_MALLOC_DEFAULTS"  # set to 1: leave malloc as glibc configures it


def _libc() -> ctypes.CDLL | None:
    """glibc, or None where there is none (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    if not hasattr(libc, "mallopt") or not hasattr(libc, "gnu_get_libc_version"):
        return None
    return libc


def tune_malloc(mmap_threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``mmap_threshold`` bytes (which also ends its dynamic raising).

    Call once, early (before the models load); returns whether glibc took the setting. The environment
    variable ``MALLOC_MMAP_THRESHOLD_``, when set, wins; ``EMOLIVE_MALLOC_DEFAULTS=1`` leaves malloc as it is.
    """
    if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
        return False
    libc = _libc()
    if libc is None:
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    ok = libc.mallopt(ctypes.c_int(_M_MMAP_THRESHOLD), ctypes.c_int(int(mmap_threshold))) == 1
    if not ok:
        log.debug("mallopt refused the mmap threshold %d; malloc left at its defaults", mmap_threshold)
    return ok


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
