"""Saved people (emolive/face/identity_store.py, `emolive people`): kept across a restart, a corrupt file moved
aside with one message, forget deletes, never pickle."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import numpy as np
import pytest

from emolive.cli import main
from emolive.face.identity import FaceObservation, KnownPerson, PersonRegistry
from emolive.face.identity_store import PeopleStore, from_json, to_json


def _person(pid: int, name: str, seed: int = 0) -> KnownPerson:
    rng = np.random.default_rng(seed)
    return KnownPerson(pid, name, tuple(rng.normal(0, 0.1, 128).astype(np.float32) for _ in range(2)))


def test_saved_people_come_back_equal(tmp_path: Path):
    store = PeopleStore(tmp_path / "data" / "people.json")
    assert not store.exists() and store.load().people == ()
    store.save([_person(1, "Ames"), _person(3, "Bo", seed=1)])
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert list(store.path.parent.iterdir()) == [store.path]  # no temporary file left
    loaded = store.load()
    assert loaded.problem == ""
    assert [(p.person_id, p.name, len(p.exemplars)) for p in loaded.people] == [(1, "Ames", 2), (3, "Bo", 2)]
    np.testing.assert_allclose(loaded.people[0].exemplars[1], _person(1, "Ames").exemplars[1], atol=1e-6)
    assert json.loads(store.path.read_text())["format"] == "emolive.people"


def test_a_named_person_is_recognised_after_a_restart(tmp_path: Path):
    vec = np.random.default_rng(5).normal(0, 0.09, 128).astype(np.float32)
    first = PersonRegistry()
    assert first.update(0.0, [FaceObservation(1, (10, 10, 90, 90), vec)]) == {1: 1}
    first.set_name(1, "Ames")
    PeopleStore(tmp_path / "people.json").save(first.export_people())

    second = PersonRegistry()  # the next session
    second.import_people(PeopleStore(tmp_path / "people.json").load().people)
    other = np.random.default_rng(6).normal(0, 0.09, 128).astype(np.float32)
    got = second.update(0.0, [FaceObservation(7, (300, 10, 90, 90), other), FaceObservation(8, (10, 10, 90, 90),
                                                                                          vec + 0.001)])
    assert got[8] == 1 and second.name_of(got[8]) == "Ames"
    assert got[7] == 2


@pytest.mark.parametrize("content", [b"{not json", b'{"format": "emolive.people", "version": 1, "people": [{"id": 1,'
                                     b' "name": "A", "exemplars": [[NaN]]}]}', b"\x80\x04pickle", b"[]"])
def test_a_corrupt_file_gives_one_message_and_is_moved_aside(tmp_path: Path, content: bytes, caplog):
    path = tmp_path / "people.json"
    path.write_bytes(content)
    (tmp_path / "other.txt").write_text("kept")
    loaded = PeopleStore(path).load()
    assert loaded.people == ()
    assert "could not be read" in loaded.problem and "starting with no saved people" in loaded.problem
    assert not path.exists() and loaded.moved_to is not None and loaded.moved_to.read_bytes() == content
    assert (tmp_path / "other.txt").read_text() == "kept"
    assert len([r for r in caplog.records if "could not be read" in r.getMessage()]) == 1
    assert PeopleStore(path).load().problem == ""  # a fresh start: nothing left to complain about
    path.write_bytes(content)
    again = PeopleStore(path).load()
    assert again.moved_to != loaded.moved_to and loaded.moved_to.exists()  # an earlier one is never overwritten


def test_bad_entries_are_refused():
    good = to_json([_person(1, "A")])
    assert from_json(good)[0].name == "A"
    for change in ({"version": 2}, {"format": "x"}, {"people": [{"id": 1, "name": "", "exemplars": [[0.1]]}]},
                   {"people": [{"id": True, "name": "A", "exemplars": [[0.1]]}]},
                   {"people": [{"id": 1, "name": "A", "exemplars": [[0.1], [0.1, 0.2]]}]},
                   {"people": [{"id": 1, "name": "A", "exemplars": [[0.1]]}, {"id": 1, "name": "B",
                                                                               "exemplars": [[0.1]]}]}):
        with pytest.raises(ValueError):
            from_json({**good, **change})


def test_people_command_lists_and_forgets(tmp_path: Path, capsys):
    path = tmp_path / "people.json"
    assert main(["people", "--file", str(path)]) == 0
    assert "no saved people" in capsys.readouterr().out
    PeopleStore(path).save([_person(2, "Dr Ames")])
    assert main(["people", "--list", "--file", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Dr Ames" in out and "person 2" in out and not re.search(r"\d\.\d{3}", out)  # never the numbers
    assert main(["people", "--json", "--file", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["people"] == [{"id": 2, "name": "Dr Ames", "embeddings": 2}]
    assert main(["people", "--forget", "--file", str(path)]) == 0
    assert "deleted" in capsys.readouterr().out and not path.exists()
    assert main(["people", "--forget", "--file", str(path)]) == 0
    assert "no saved people" in capsys.readouterr().out
