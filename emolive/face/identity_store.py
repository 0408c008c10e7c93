"""Saved people (opt-in ``people.remember``): the names and reference embeddings of the persons the user named,
kept on this machine for the next session.

One JSON file (``people.json`` in the user's data folder, e.g. ~/.local/share/emolive on Linux; never pickle),
written atomically and readable by this user only. A file that cannot be read is moved aside
(``people.json.unreadable-<time>``) with one plain message, and the session starts with no saved people; nothing
else is touched. ``forget`` deletes the file.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emolive.core.errors import EmoliveError, plain_reason
from emolive.face.identity import KnownPerson

log = logging.getLogger(__name__)

FILE_NAME = "people.json"
FORMAT = "emolive.people"
VERSION = 1
MAX_EXEMPLARS = 64  # per person; a longer list is not a file this module wrote


class PeopleStoreError(EmoliveError):
    """The saved people could not be written or deleted."""


def default_people_path() -> Path:
    """``<user data dir>/people.json`` (platformdirs), beside the recorded sessions."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("emolive")) / FILE_NAME


@dataclass(frozen=True)
class Loaded:
    """What ``PeopleStore.load`` found: the people, and when the file was unreadable, why and where it went."""

    people: tuple[KnownPerson, ...] = ()
    problem: str = ""
    moved_to: Path | None = None


def to_json(people: Iterable[KnownPerson]) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION,
            "note": "names and face-identity embeddings kept by emolive on this machine; delete to forget them",
            "people": [{"id": p.person_id, "name": p.name,
                        "exemplars": [[round(float(v), 6) for v in np.asarray(e).ravel()] for e in p.exemplars]}
                       for p in people]}


def from_json(data: Any) -> tuple[KnownPerson, ...]:
    """The people of a parsed file; ValueError saying what is wrong."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} file")
    if data.get("version") != VERSION:
        raise ValueError(f"version {data.get('version')!r} is not {VERSION}")
    entries = data.get("people")
    if not isinstance(entries, list):
        raise ValueError("'people' is not a list")
    out, seen, dim = [], set(), None
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValueError("a person is not an object")
        pid, name, exemplars = entry.get("id"), entry.get("name"), entry.get("exemplars")
        if not isinstance(pid, int) or isinstance(pid, bool) or pid < 1 or pid in seen:
            raise ValueError(f"bad or repeated person id {pid!r}")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"person {pid} has no name")
        if not isinstance(exemplars, list) or not 1 <= len(exemplars) <= MAX_EXEMPLARS:
            raise ValueError(f"person {pid} has no usable embeddings")
        vectors = []
        for e in exemplars:
            if not isinstance(e, list) or not e or not all(isinstance(v, int | float) and not isinstance(v, bool)
                                                           and math.isfinite(v) for v in e):
                raise ValueError(f"person {pid}: an embedding is not a list of finite numbers")
            dim = dim or len(e)
            if len(e) != dim:
                raise ValueError(f"person {pid}: embeddings of different lengths")
            vectors.append(np.asarray(e, np.float32))
        seen.add(pid)
        out.append(KnownPerson(pid, " ".join(name.split()), tuple(vectors)))
    return tuple(out)


class PeopleStore:
    """The saved people at ``path`` (default: ``default_people_path()``)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_people_path()

    def exists(self) -> bool:
        return self.path.is_file()

    def load(self) -> Loaded:
        """The saved people; none when there is no file. An unreadable file is moved aside (one message)."""
        if not self.path.exists():
            return Loaded()
        try:
            return Loaded(from_json(json.loads(self.path.read_text(encoding="utf-8"))))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            reason = plain_reason(exc) if isinstance(exc, OSError) else str(exc) or type(exc).__name__
        stem = f"{self.path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}"
        aside, n = self.path.with_name(stem), 1
        while aside.exists():  # an earlier unreadable file is never overwritten
            aside, n = self.path.with_name(f"{stem}-{n}"), n + 1
        try:
            os.replace(self.path, aside)
            where = f"moved aside to {aside}"
        except OSError as exc:
            aside, where = None, f"and could not be moved aside ({plain_reason(exc)})"
        problem = (f"The saved people could not be read ({reason}); starting with no saved people. "
                   f"The file was {where}.")
        log.warning(problem)
        return Loaded(problem=problem, moved_to=aside)

    def save(self, people: Iterable[KnownPerson]) -> None:
        """Write the file atomically (a reader never sees half of it), readable by this user only."""
        text = json.dumps(to_json(people), separators=(",", ":"))
        tmp = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)  # mode 0600
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
            tmp = None
        except OSError as exc:
            raise PeopleStoreError(f"could not save the people to {self.path}: {plain_reason(exc)}") from exc
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)

    def forget(self) -> bool:
        """Delete the saved people; True when there was a file."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise PeopleStoreError(f"could not delete {self.path}: {plain_reason(exc)}") from exc
        log.info("deleted the saved people (%s)", self.path)
        return True
