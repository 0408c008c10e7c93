"""Alias kept for ``emolive.gui.app``: the recorder lives in ``emolive.recording.session``."""

from emolive.recording.session import SessionRecorder

__all__ = ["SessionRecorder"]
