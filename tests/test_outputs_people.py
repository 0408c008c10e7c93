"""The live outputs say whose estimate it is: the LSL person_id channel and 'person: ID NAME' markers, the
WebSocket's person and people fields (additive: messages without them stay valid)."""

from __future__ import annotations

import math
from dataclasses import replace

from emolive.core.clock import SessionClock
from emolive.core.contracts import FaceBox, ModalityOutput, PersonEstimate
from emolive.core.labels import EMOTIONS
from emolive.outputs import messages
from emolive.outputs.clock import map_clocks
from emolive.outputs.layout import SampleLayout, channels
from emolive.outputs.lsl import LslOutlet
from tests.fakes import estimate


def _people(t: float, primary_name: str = "Dr Ames") -> tuple[PersonEstimate, ...]:
    joy = tuple(0.7 if e == "joy" else 0.05 for e in EMOTIONS)
    return (PersonEstimate(3, primary_name, FaceBox(200, 100, 180, 200, track_id=7, person_id=3, person=primary_name),
                           ModalityOutput("face", t, present=True, emotion=joy, quality=0.9), primary=True),
            PersonEstimate(5, "person 5", FaceBox(420, 110, 120, 140, track_id=9, person_id=5, person="person 5"),
                           ModalityOutput("face", t, present=False, reason="face too small")))


def _seen(t: float, primary_name: str = "Dr Ames"):  # noqa: ANN202
    """An estimate with two people in view, boxes and persons as the worker gives them (the primary first)."""
    people = _people(t, primary_name)
    return replace(estimate(t), faces=tuple(p.box for p in people), people=people)


class _Outlet:
    def __init__(self) -> None:
        self.samples: list[tuple[list, float]] = []

    def push_sample(self, sample: list, stamp: float) -> None:
        self.samples.append((sample, stamp))


def test_the_lsl_sample_ends_with_the_primary_person_s_id() -> None:
    layout = SampleLayout()
    assert channels()[-1].label == "person_id" and len(layout) == len(channels())
    alone = layout.sample(estimate(1.0))
    assert math.isnan(alone[-1])
    with_people = layout.sample(_seen(1.0))
    assert with_people[-1] == 3.0 and with_people[:-1] == alone[:-1]  # the other channels as before


def test_the_markers_stream_says_who_the_estimate_follows_when_that_changes() -> None:
    outlet = LslOutlet(map_clocks(SessionClock()), 0.1)
    outlet._outlet, outlet._markers = _Outlet(), _Outlet()
    for step in (estimate(0.1), _seen(0.2), _seen(0.3), _seen(0.4, "Ames"), estimate(0.5)):
        outlet.handle(("estimate", step))
    assert len(outlet._outlet.samples) == 5
    assert [s[0] for s, _ in outlet._markers.samples] == ["person: 3 Dr Ames", "person: 3 Ames"]


def test_websocket_estimates_carry_the_person_and_each_face() -> None:
    build = messages.EstimateMessages(map_clocks(SessionClock()))
    plain = build(estimate(1.0))
    assert plain["person"] is None and plain["people"] == [] and messages.problems(plain) == []
    message = build(_seen(1.0))
    assert messages.problems(message) == []
    assert message["person"] == {"id": 3, "name": "Dr Ames"}
    first, second = message["people"]
    assert first["primary"] and first["box"] == [200, 100, 180, 200] and first["top"] == "joy"
    assert first["emotion"]["joy"] == round(0.7, 6) and first["quality"] == 0.9
    assert not second["primary"] and not second["present"] and second["emotion"] is None
    old = {k: v for k, v in message.items() if k not in ("person", "people")}
    assert messages.problems(old) == []  # a message of an older emolive is still valid
    assert messages.problems({**message, "person": {"id": "3"}}) == [
        "estimate: person must be null or an object with an integer 'id' and a string 'name'"]
    assert messages.problems({**message, "people": [{**first, "box": [1, 2]}]})[0].startswith("estimate: people[0]")
    assert messages.problems({**message, "people": [first, {**second, "primary": True}]}) == [
        "estimate: at most one of people is primary"]
