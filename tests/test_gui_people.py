"""Several people in the window: click a box to name the person, pin or unpin the primary one, the settings'
people rows, and the saved people (kept across a restart when opted in, untouched when not, a corrupt file moved
aside with one message, forgotten from the Session menu). A fake pipeline shows two persons."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from fakes import FakePipeline, estimate  # noqa: E402
from PySide6.QtCore import QPoint, QRectF, Qt  # noqa: E402
from PySide6.QtWidgets import QInputDialog, QMessageBox  # noqa: E402

from emolive.config import AppConfig, with_changes  # noqa: E402
from emolive.core.contracts import FaceBox, ModalityOutput, PersonEstimate  # noqa: E402
from emolive.core.labels import EMOTIONS  # noqa: E402
from emolive.face.identity import FaceObservation, PersonRegistry  # noqa: E402
from emolive.face.identity_store import PeopleStore  # noqa: E402
from emolive.gui.interfaces import Sources  # noqa: E402
from emolive.gui.main_window import MainWindow  # noqa: E402
from emolive.gui.overlay import person_label, primary_index  # noqa: E402
from emolive.gui.settings_dialog import SettingsDialog  # noqa: E402
from emolive.gui.video_view import fit_rect  # noqa: E402

BOXES = {1: (120, 140, 160, 180), 2: (400, 150, 130, 150)}
LOOKS = {pid: np.random.default_rng(pid).normal(0, 0.09, 128).astype(np.float32) for pid in BOXES}


class PeoplePipeline(FakePipeline):
    """Two people in view, known to a real PersonRegistry (``worker.face.identities``); records name and pin
    calls as LivePipeline's worker takes them."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.registry = PersonRegistry()
        self.worker = SimpleNamespace(face=SimpleNamespace(identities=self.registry))
        self.names: list[tuple[int, str]] = []
        self.primaries: list[int | None] = []

    def start(self) -> None:
        found = self.registry.update(0.0, [FaceObservation(pid, box, LOOKS[pid]) for pid, box in BOXES.items()])
        self.persons = {track: person for track, person in found.items()}  # track id -> person id
        super().start()

    def set_person_name(self, person_id: int, name: str) -> None:
        self.names.append((person_id, name))
        self.registry.set_name(person_id, name)

    def set_primary(self, person_id: int | None) -> None:
        self.primaries.append(person_id)

    def _run(self) -> None:
        while not self._stop.wait(self.hop):
            self.sinks.on_estimate(self.two_people(self.clock.now()))

    def two_people(self, t: float) -> object:
        primary = self.primaries[-1] if self.primaries and self.primaries[-1] is not None else None
        faces, people = [], []
        for track, pid in self.persons.items():
            box = FaceBox(*BOXES[track], track_id=track, person_id=pid, person=self.registry.name_of(pid))
            sad = tuple(0.6 if e == "sadness" else 0.4 / 6 for e in EMOTIONS)
            faces.append(box)
            people.append(PersonEstimate(pid, box.person, box, ModalityOutput("face", t, True, emotion=sad,
                                                                              quality=0.9)))
        first = next((i for i, p in enumerate(people) if p.person_id == primary), 0)
        order = [first, *(i for i in range(len(people)) if i != first)]
        people = [replace(people[i], primary=k == 0) for k, i in enumerate(order)]
        return replace(estimate(t), faces=tuple(faces[i] for i in order), people=tuple(people))


class PeopleFactory:
    def __init__(self) -> None:
        self.made: list[PeoplePipeline] = []

    def __call__(self, config, sources, sinks):  # noqa: ANN001, ANN204
        self.made.append(PeoplePipeline(config, sources, sinks))
        return self.made[-1]


def _window(qtbot, demo_clip: Path, tmp_path: Path, remember: bool, store: Path) -> tuple[MainWindow, PeopleFactory]:  # noqa: ANN001
    factory = PeopleFactory()
    config = with_changes(AppConfig(), "people", remember=remember)
    win = MainWindow(config, Sources(video=demo_clip), factory, config_path=tmp_path / "config.toml")
    win.session.people_store = PeopleStore(store)
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.started, timeout=10_000):
        win.start()
    qtbot.waitUntil(lambda: win.video.frame is not None and win.video.estimate is not None
                    and bool(win.video.estimate.people), timeout=10_000)
    return win, factory


def _centre_of(win: MainWindow, pid: int) -> QPoint:
    target = fit_rect(640, 480, QRectF(win.video.rect()))
    scale = target.width() / 640
    x, y, w, h = BOXES[pid]
    return QPoint(int(target.x() + (x + w / 2) * scale), int(target.y() + (y + h / 2) * scale))


def test_a_click_on_a_box_names_that_person(qtbot, demo_clip, tmp_path, monkeypatch):  # noqa: ANN001
    win, factory = _window(qtbot, demo_clip, tmp_path, False, tmp_path / "people.json")
    try:
        asked = []

        def get_text(parent, title, label, text=""):  # noqa: ANN001, ANN202
            asked.append((title, label, text))
            return "  Dr   Ames ", True

        monkeypatch.setattr(QInputDialog, "getText", staticmethod(get_text))
        qtbot.mouseClick(win.video, Qt.MouseButton.LeftButton, pos=_centre_of(win, 2))
        assert asked and "person 2" in asked[0][1]
        assert factory.made[0].names == [(2, "Dr Ames")]
        qtbot.waitUntil(lambda: any(f.person == "Dr Ames" for f in win.video.estimate.faces), timeout=5_000)
        qtbot.mouseClick(win.video, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))  # beside the boxes: nothing
        assert len(asked) == 1
        assert not (tmp_path / "people.json").exists()  # remember is off: nothing written
    finally:
        win.shutdown()


def test_pin_and_unpin_the_primary_person(qtbot, demo_clip, tmp_path):  # noqa: ANN001
    win, factory = _window(qtbot, demo_clip, tmp_path, False, tmp_path / "people.json")
    try:
        menu = win.person_menu(2, "person 2")
        pin = next(a for a in menu.actions() if a.text().startswith("Pin person 2"))
        pin.trigger()
        assert factory.made[0].primaries == [2] and win.session.pinned == 2 and win.video.pinned == 2
        qtbot.waitUntil(lambda: win.following is not None and win.following[0] == 2, timeout=5_000)
        assert win.headers["Current estimate"].text() == "Current estimate: person 2"  # bars and traces follow
        qtbot.waitUntil(lambda: win.video.estimate.faces[0].person_id == 2, timeout=5_000)  # the next redraw
        assert primary_index(win.video.estimate) == 0
        menu = win.person_menu(2, "person 2")
        unpin = next(a for a in menu.actions() if a.text().startswith("Unpin person 2"))
        unpin.trigger()
        assert factory.made[0].primaries == [2, None] and win.session.pinned is None
    finally:
        win.shutdown()


def test_labels_name_each_person():
    est = PeoplePipeline.two_people(SimpleNamespace(primaries=[], persons={1: 1, 2: 2},
                                                    registry=PersonRegistry()), 1.0)
    assert person_label(est, est.faces[0], True, pinned=True).startswith("person 1 (pinned) - joy")
    assert person_label(est, est.faces[1], False) == "person 2 - face: sadness 60%"
    assert person_label(estimate(1.0), estimate(1.0).faces[0], True) == "joy 70%"  # no identities: as before


def test_settings_people_rows_round_trip(qtbot):  # noqa: ANN001
    dialog = SettingsDialog(AppConfig(), microphones=lambda: [], cameras=lambda: [], cuda=lambda: "",
                            asr_models=lambda: {})
    qtbot.addWidget(dialog)
    assert dialog.identities.isChecked() and not dialog.remember.isChecked()
    assert "never in a CSV" in dialog.people_note.text() and "this machine" in dialog.people_note.text()
    dialog.remember.setChecked(True)
    config = dialog.result_config()
    assert config.people.remember and config.people.identities
    again = SettingsDialog(config, microphones=lambda: [], cameras=lambda: [], cuda=lambda: "", asr_models=lambda: {})
    qtbot.addWidget(again)
    assert again.remember.isChecked()
    again.identities.setChecked(False)
    assert not again.remember.isEnabled() and not again.result_config().people.identities


def test_named_people_are_kept_across_a_restart_only_when_opted_in(qtbot, demo_clip, tmp_path):  # noqa: ANN001
    store = tmp_path / "data" / "people.json"
    win, _ = _window(qtbot, demo_clip, tmp_path, True, store)
    win.session.name_person(1, "Ames")
    assert [p.name for p in PeopleStore(store).load().people] == ["Ames"]  # saved on naming
    win.shutdown()

    win, factory = _window(qtbot, demo_clip, tmp_path, True, store)  # the next session
    try:
        assert factory.made[0].registry.name_of(1) == "Ames"
        qtbot.waitUntil(lambda: any(f.person == "Ames" for f in win.video.estimate.faces), timeout=5_000)
    finally:
        win.shutdown()

    before = store.read_bytes()
    win, factory = _window(qtbot, demo_clip, tmp_path, False, store)  # remember off: not read, not written
    try:
        assert factory.made[0].registry.name_of(1) == "person 1"
        win.session.name_person(2, "Bo")
    finally:
        win.shutdown()
    assert store.read_bytes() == before


def test_a_corrupt_saved_file_is_one_message_and_a_fresh_start(qtbot, demo_clip, tmp_path):  # noqa: ANN001
    store = tmp_path / "people.json"
    store.write_text("{half a file")
    (tmp_path / "keep.txt").write_text("kept")
    win, factory = _window(qtbot, demo_clip, tmp_path, True, store)
    try:
        said = [m for m in win.banner.messages if "saved people could not be read" in m]
        assert len(said) == 1
        assert not store.exists() and len(list(tmp_path.glob("people.json.unreadable-*"))) == 1
        assert (tmp_path / "keep.txt").read_text() == "kept"
        assert factory.made[0].registry.name_of(1) == "person 1"  # a fresh start
        win.session.name_person(1, "Ames")
        assert [p.name for p in PeopleStore(store).load().people] == ["Ames"]
    finally:
        win.shutdown()


def test_forget_saved_people_from_the_session_menu(qtbot, demo_clip, tmp_path, monkeypatch):  # noqa: ANN001
    store = tmp_path / "people.json"
    win, factory = _window(qtbot, demo_clip, tmp_path, True, store)
    try:
        win.session.name_person(1, "Ames")
        assert store.exists()
        monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Yes))
        win.actions.forget_people.trigger()
        assert not store.exists()
        assert factory.made[0].registry.name_of(1) == "person 1"
    finally:
        win.shutdown()
