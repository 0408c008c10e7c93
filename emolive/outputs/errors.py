"""The live outputs' error: one clear message; the app and the recording go on without that output."""

from __future__ import annotations

from emolive.core.errors import EmoliveError


class OutputError(EmoliveError):
    """A live output (LSL, WebSocket, overlay) cannot be started."""
