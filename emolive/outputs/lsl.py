"""The Lab Streaming Layer outlet: the estimates as a float32 stream of type ``Emotion``, markers and transcript
segments as a string stream of type ``Markers``; every sample stamped on the LSL clock at its step's capture time."""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import uuid
from types import ModuleType
from typing import Any

from emolive import __version__
from emolive.core.contracts import EmotionEstimate, SourceEvent, TranscriptSegment
from emolive.outputs.clock import ClockMapping
from emolive.outputs.errors import OutputError
from emolive.outputs.layout import SampleLayout, primary_person
from emolive.outputs.worker import QueueThread

log = logging.getLogger(__name__)

STREAM_NAME = "emolive"
STREAM_TYPE = "Emotion"
MARKER_NAME = "emolive-markers"
MARKER_TYPE = "Markers"


def load_pylsl() -> ModuleType:
    """Import pylsl (and with it liblsl); OutputError saying why when it cannot be loaded."""
    try:
        import pylsl
    except ImportError as exc:
        raise OutputError(f"LSL is not available: pylsl is not installed ({exc.msg})") from exc
    except (OSError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(" .-")
        raise OutputError(f"LSL is not available: its library (liblsl) could not be loaded ({first})") from exc
    return pylsl


def source_id(source: str) -> str:
    """A stable id for this installation (host name and network node) and source (camera or file), so LSL
    recorders reconnect to the same stream after a restart."""
    key = f"{socket.gethostname()}|{uuid.getnode():x}|{source}"
    return f"emolive-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:16]}"


def stream_info(pylsl: ModuleType, layout: SampleLayout, hop_s: float, ident: str,
                meta: dict[str, Any] | None = None) -> Any:
    """The ``Emotion`` stream's StreamInfo: channels in ``desc/channels`` (label, unit, type), the acquisition
    software in ``desc/acquisition``, emolive's version, models (sha256) and settings in ``desc/emolive``."""
    info = pylsl.StreamInfo(STREAM_NAME, STREAM_TYPE, len(layout), 1.0 / hop_s, pylsl.cf_float32, ident)
    desc = info.desc()
    chans = desc.append_child("channels")
    for channel in layout.channels:
        node = chans.append_child("channel")
        node.append_child_value("label", channel.label)
        node.append_child_value("unit", channel.unit)
        node.append_child_value("type", channel.type)
    acquisition = desc.append_child("acquisition")
    acquisition.append_child_value("manufacturer", "emolive")
    acquisition.append_child_value("model", "emolive live estimate")
    acquisition.append_child_value("application", "emolive")
    acquisition.append_child_value("version", __version__)
    own = desc.append_child("emolive")
    own.append_child_value("version", __version__)
    own.append_child_value("hop_s", f"{hop_s:g}")
    own.append_child_value("timestamps", "LSL clock at the capture time of the step's newest media")
    own.append_child_value("person_id", "the id of the person the values belong to (NaN: none); the markers "
                                        "stream says 'person: ID NAME' when that person or their name changes")
    meta = meta or {}
    models = own.append_child("models")
    for kind, entry in sorted((meta.get("models") or {}).items()):
        node = models.append_child("model")
        node.append_child_value("kind", kind)
        node.append_child_value("sha256", str(entry.get("sha256", "")))
        node.append_child_value("path", str(entry.get("path", "")))
    own.append_child_value("settings", json.dumps(meta.get("settings"), default=str, sort_keys=True))
    return info


def person_marker(person_id: int, name: str) -> str:
    """The markers stream's note of whom the estimate follows, e.g. ``person: 2 Dr Ames``."""
    return f"person: {person_id} {' '.join(name.split())}"


def marker_info(pylsl: ModuleType, ident: str) -> Any:
    info = pylsl.StreamInfo(MARKER_NAME, MARKER_TYPE, 1, pylsl.IRREGULAR_RATE, pylsl.cf_string, f"{ident}-markers")
    info.desc().append_child_value("content", "emolive's markers (their label), committed transcript segments "
                                              "('transcript: TEXT', stamped at the segment's start) and who the "
                                              "estimate follows ('person: ID NAME', when that changes)")
    return info


class LslOutlet(QueueThread):
    """A pipeline sink publishing to LSL from its own thread (``start`` opens the outlets: OutputError on failure).

    ``mapping`` turns session times into LSL times; ``source`` names the camera or file (part of the source id);
    ``meta``: ``{"models": describe_models(...), "settings": ...}`` for the stream's description.
    """

    def __init__(self, mapping: ClockMapping, hop_s: float, source: str = "", meta: dict[str, Any] | None = None,
                 pylsl: ModuleType | None = None, max_queue: int = 256) -> None:
        super().__init__("emolive-lsl-outlet", max_queue)
        self.mapping, self.hop_s, self.source, self.meta = mapping, hop_s, source, meta
        self.layout = SampleLayout()
        self.ident = source_id(source)
        self._pylsl = pylsl
        self._outlet: Any = None
        self._markers: Any = None
        self._person: tuple[int, str] | None = None  # the primary person last announced on the markers stream
        self.sent = 0

    def start(self) -> None:
        pylsl = self._pylsl or load_pylsl()
        try:
            self._outlet = pylsl.StreamOutlet(stream_info(pylsl, self.layout, self.hop_s, self.ident, self.meta))
            self._markers = pylsl.StreamOutlet(marker_info(pylsl, self.ident))
        except (RuntimeError, OSError, ValueError) as exc:
            self._outlet = self._markers = None
            raise OutputError(f"the LSL outlet could not be opened: {exc}") from exc
        super().start()
        log.info("LSL: streaming %d channels as %r (type %s, source id %s)", len(self.layout), STREAM_NAME,
                 STREAM_TYPE, self.ident)

    def end(self) -> None:
        self._outlet = self._markers = None  # the outlets close when released: recorders see the stream end

    # --- contracts.PipelineSink (the pipeline's threads): hand over, never wait ---------------------------
    def on_estimate(self, estimate: EmotionEstimate) -> None:
        self.offer(("estimate", estimate))

    def on_segment(self, segment: TranscriptSegment) -> None:
        if segment.committed and segment.text.strip():
            self.offer(("segment", segment))

    def on_event(self, event: SourceEvent) -> None:
        return None

    def marker(self, label: str, t: float) -> None:
        """Publish one of emolive's markers (session time ``t``) on the marker stream."""
        self.offer(("marker", (label, t)))

    # --- the thread ----------------------------------------------------------------------------------
    def handle(self, item: tuple[str, Any]) -> None:
        kind, payload = item
        if kind == "estimate":
            self._outlet.push_sample(self.layout.sample(payload), self.mapping.to_lsl(payload.t))
            self.sent += 1
            person = primary_person(payload)
            if person is not None and (person.person_id, person.name) != self._person:
                self._person = (person.person_id, person.name)
                self._markers.push_sample([person_marker(person.person_id, person.name)],
                                          self.mapping.to_lsl(payload.t))
        elif kind == "segment":
            text = " ".join(payload.text.split())
            self._markers.push_sample([f"transcript: {text}"], self.mapping.to_lsl(payload.start))
        elif kind == "marker":
            label, t = payload
            self._markers.push_sample([label], self.mapping.to_lsl(t))
