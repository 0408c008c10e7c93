"""One monotonic session clock shared by every source, worker and recorder."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SessionClock:
    """Seconds since the session started, from ``time.monotonic``.

    Every thread stamps its data with ``now()`` of the same instance, so timestamps from the
    camera, the microphone and the workers are directly comparable.
    """

    origin: float = field(default_factory=time.monotonic)

    def now(self) -> float:
        return time.monotonic() - self.origin

    def to_session(self, monotonic_time: float) -> float:
        """Convert a raw ``time.monotonic()`` reading into session time."""
        return monotonic_time - self.origin
