"""The typed contracts: source kinds, event kinds and what the worker needs from a channel."""

from __future__ import annotations

from emolive.capture.media_file import MediaFileSource
from emolive.capture.synthetic import SyntheticSource
from emolive.core.contracts import EventKind, SourceEvent, SourceKind, source_kind


def test_source_kinds_say_what_a_source_delivers() -> None:
    assert [k for k in SourceKind if k.has_audio] == [SourceKind.MICROPHONE, SourceKind.FILE, SourceKind.SYNTHETIC]
    assert [k for k in SourceKind if k.is_picture] == [SourceKind.CAMERA, SourceKind.FILE]
    assert MediaFileSource.name is SourceKind.FILE and SyntheticSource.name is SourceKind.SYNTHETIC
    assert source_kind("microphone") is SourceKind.MICROPHONE and source_kind("models") is None


def test_events_know_their_capture_source() -> None:
    event = SourceEvent(t=1.0, source=SourceKind.CAMERA, kind=EventKind.ERROR, message="lost")
    assert event.capture_source is SourceKind.CAMERA and event.kind == "error"  # plain strings still compare
    assert SourceEvent(t=1.0, source="transcriber", kind=EventKind.ERROR).capture_source is None
    assert f"{event.source}: {event.kind}" == "camera: error"
