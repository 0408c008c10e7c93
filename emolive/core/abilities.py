"""Optional abilities of channels, fusers and streams, declared as Protocols and checked with ``isinstance``.

The channel contract (``contracts.FaceLike``, ``VoiceLike``, ``TextLike``) asks only for ``process``; a part that
can do more says so by having these methods (structural typing: nothing to inherit).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Resettable(Protocol):
    """Forgets what it learnt about the session so far (face tracks, a speaker's running statistics)."""

    def reset(self) -> None: ...


@runtime_checkable
class Movable(Protocol):
    """Moves its model to another device ("cpu", "cuda")."""

    def to(self, device: str) -> Any: ...


@runtime_checkable
class Snapshotable(Protocol):
    """Its state can be taken and put back (``core.snapshot``), so an analysis resumes where it stopped."""

    def state(self) -> dict[str, Any]: ...

    def restore(self, state: dict[str, Any]) -> None: ...


@runtime_checkable
class MaybeStateless(Protocol):
    """Says whether it keeps no state between calls (then there is nothing to snapshot)."""

    stateless: bool


@runtime_checkable
class SnapshotableStream(Snapshotable, Protocol):
    """A transcription stream that says whether its current decoder allows a snapshot."""

    can_snapshot: bool


@runtime_checkable
class DetectsInBackground(Protocol):
    """A face channel that can run its detection rounds on a thread of its own."""

    def start_detection_thread(self) -> None: ...

    def stop_detection_thread(self) -> None: ...

    def pop_detection_ms(self) -> float | None: ...


@runtime_checkable
class SeesPeople(Protocol):
    """A face channel that tells persons apart (``emolive.face.identity``): it scores several faces a step and
    keeps them as ``people`` (``contracts.PersonEstimate``, the primary first), takes the user's names for persons
    and the person the user made primary."""

    people: tuple[Any, ...]

    def use_people(self, identities: Any, embedder: Any, max_faces: int) -> None: ...

    def pin(self, person_id: int | None) -> None: ...

    def name_person(self, person_id: int, name: str) -> None: ...


def is_stateless(part: Any) -> bool:
    return isinstance(part, MaybeStateless) and bool(part.stateless)
