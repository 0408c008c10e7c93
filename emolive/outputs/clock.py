"""The mapping between emolive's session clock, wall time and the Lab Streaming Layer's clock, taken once."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from emolive.core.clock import SessionClock


@dataclass(frozen=True)
class ClockMapping:
    """Readings of the three clocks at one instant: ``session_s`` (the session clock), ``unix_s`` (wall time) and
    ``lsl_s`` (``pylsl.local_clock()``; None without LSL). Both the session clock and the LSL clock are monotonic,
    so their difference holds for the whole session."""

    session_s: float
    unix_s: float
    lsl_s: float | None = None

    @property
    def lsl_offset(self) -> float:
        """LSL time minus session time (0 without LSL)."""
        return 0.0 if self.lsl_s is None else self.lsl_s - self.session_s

    def to_lsl(self, session_t: float) -> float:
        return session_t + self.lsl_offset

    def to_session(self, lsl_t: float) -> float:
        return lsl_t - self.lsl_offset

    def as_dict(self) -> dict[str, Any]:
        """The record kept in session.json (``clock_mapping``)."""
        return {
            "session_s": round(self.session_s, 6),
            "unix_s": round(self.unix_s, 6),
            "utc": datetime.fromtimestamp(self.unix_s, UTC).isoformat(timespec="microseconds"),
            "lsl_s": None if self.lsl_s is None else round(self.lsl_s, 6),
            "lsl_minus_session_s": None if self.lsl_s is None else round(self.lsl_offset, 6),
            "note": "lsl time = session t + lsl_minus_session_s (the LSL clock is pylsl.local_clock() of this machine)",
        }


def map_clocks(clock: SessionClock, lsl_clock: Callable[[], float] | None = None) -> ClockMapping:
    """Read the clocks close together: the session clock is read on both sides of the others and averaged."""
    before = clock.now()
    unix = time.time()
    lsl = lsl_clock() if lsl_clock is not None else None
    after = clock.now()
    return ClockMapping(session_s=(before + after) / 2, unix_s=unix, lsl_s=lsl)
