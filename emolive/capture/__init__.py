"""Capture sources: threads that stamp frames and audio with the session clock and fill the rings.

They never touch Qt or models. Each reports what happens (end of stream, errors, measured rates)
through a plain callback taking a ``SourceEvent``; the GUI wraps that into a queued signal.
"""

from emolive.capture.base import CaptureSource, EventSink
from emolive.capture.camera import CameraSource
from emolive.capture.media_file import MediaFileSource, probe_media
from emolive.capture.microphone import MicSource
from emolive.capture.synthetic import SyntheticSource

__all__ = ["CameraSource", "CaptureSource", "EventSink", "MediaFileSource", "MicSource", "SyntheticSource",
           "probe_media"]
