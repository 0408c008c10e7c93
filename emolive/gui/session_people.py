"""The people side of the session controller: name a person, pin the primary one, and (with the opt-in
``people.remember``) keep the named people for the next session. A mixin of ``SessionController``.

Names and pins go to the running pipeline (``set_person_name``, ``set_primary``: applied by the inference worker
between two steps). Saved people (``emolive.face.identity_store``) are loaded into the face channel's
``PersonRegistry`` when a pipeline is ready, and written when a person is named or renamed and when the pipeline
stops. With ``remember`` off nothing is read or written, and a file saved earlier stays as it is.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from emolive.face.identity import PersonRegistry
from emolive.face.identity_store import PeopleStore, PeopleStoreError

if TYPE_CHECKING:  # provided by SessionController
    from PySide6.QtCore import SignalInstance

    from emolive.config import AppConfig
    from emolive.gui.interfaces import PipelineLike

log = logging.getLogger(__name__)


def people_registry(pipeline: Any) -> PersonRegistry | None:
    """The running face channel's persons (``LivePipeline.worker.face.identities``), None without identities."""
    face = getattr(getattr(pipeline, "worker", None), "face", None)
    registry = getattr(face, "identities", None)
    return registry if isinstance(registry, PersonRegistry) else None


class PeopleControl:
    """People commands of the session; ``self`` is the ``SessionController``."""

    people_store: PeopleStore
    pinned: int | None  # the person pinned as primary in this session (None: the largest, most central face)

    if TYPE_CHECKING:
        config: AppConfig
        pipeline: PipelineLike | None
        problem: SignalInstance
        notice: SignalInstance

    def _init_people(self, store: PeopleStore | None) -> None:
        self.people_store = store or PeopleStore()
        self.pinned = None
        self._loaded_into: PersonRegistry | None = None  # the registry the saved people went into

    @property
    def remembering(self) -> bool:
        return bool(self.config.people.remember and self.config.people.identities)

    def _people_ready(self, pipeline: PipelineLike) -> None:
        """A pipeline is ready: no one is pinned yet; with ``remember`` the saved people are loaded into it."""
        self.pinned = None
        self._loaded_into = None
        registry = people_registry(pipeline)
        if not self.remembering or registry is None or not registry.settings.enabled:
            return
        loaded = self.people_store.load()
        if loaded.problem:
            self.problem.emit(loaded.problem)
            self.notice.emit("The saved people could not be read; starting with no saved people", 10000)
        registry.import_people(loaded.people)
        self._loaded_into = registry
        if loaded.people:
            names = ", ".join(p.name for p in loaded.people)
            self.notice.emit(f"Saved people loaded: {names} (Session > Forget saved people deletes them)", 8000)

    def name_person(self, person_id: int, name: str) -> None:
        """Give a person in view a name ("" goes back to ``person N``); saved at once with ``remember``."""
        pipeline = self.pipeline
        if pipeline is None or not callable(getattr(pipeline, "set_person_name", None)):
            self.notice.emit("Naming people needs a running session with the face channel", 6000)
            return
        name = " ".join(name.split())
        pipeline.set_person_name(person_id, name)
        registry = people_registry(pipeline)
        if registry is not None:
            registry.set_name(person_id, name)  # now, so the save below holds it (the worker sets it too)
        said = f"person {person_id} is now called {name}" if name else f"person {person_id} has no name again"
        self.notice.emit(said[0].upper() + said[1:], 6000)
        self.save_people()

    def pin_person(self, person_id: int | None) -> None:
        """Fuse voice and words with ``person_id`` while in view (None: the largest, most central face again)."""
        pipeline = self.pipeline
        if pipeline is None or not callable(getattr(pipeline, "set_primary", None)):
            return
        pipeline.set_primary(person_id)
        self.pinned = person_id
        self.notice.emit("Voice and words follow the largest face again" if person_id is None else
                         f"Voice and words follow person {person_id} while in view", 6000)

    def save_people(self) -> None:
        """With ``remember``: write the named people of the running session (the file's earlier people are in the
        session's registry since it started, so nothing saved before is lost)."""
        registry = self._loaded_into
        if not self.remembering or registry is None or registry is not people_registry(self.pipeline):
            return
        people = registry.export_people()
        if not people and not self.people_store.exists():
            return  # nobody named: no file
        try:
            self.people_store.save(people)
        except PeopleStoreError as exc:
            self.problem.emit(f"Could not save the named people: {exc}")

    def forget_people(self) -> None:
        """Delete the saved people; the running session forgets its persons and names too."""
        try:
            deleted = self.people_store.forget()
        except PeopleStoreError as exc:
            self.problem.emit(str(exc)[0].upper() + str(exc)[1:])
            return
        registry = people_registry(self.pipeline)
        if registry is not None:
            registry.import_people([])  # no known persons ...
            registry.reset()  # ... and no names: the faces in view become person 1, 2, ... again
        if self.pinned is not None:
            self.pin_person(None)
        self.notice.emit(f"Deleted the saved people ({self.people_store.path})" if deleted else
                         "There were no saved people; this session's names are forgotten", 8000)
