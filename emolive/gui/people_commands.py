"""What a click on a person does in the main window: name them (a small dialog), pin them as the primary person
(voice and words fused with them) or unpin, and Session > Forget saved people. A mixin of ``MainWindow``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QInputDialog, QMenu, QMessageBox

if TYPE_CHECKING:
    from emolive.gui.session import SessionController
    from emolive.gui.video_view import VideoView

FORGET_TEXT = ("Delete the saved people (the names you gave and their face-identity embeddings, kept on this machine "
               "for the next session)? This session forgets who is who as well.")


class PeopleCommands:
    """People commands of the window; ``self`` is the ``MainWindow``."""

    if TYPE_CHECKING:
        session: SessionController
        video: VideoView

    def on_person_clicked(self, person_id: int, name: str, where: QPoint, context: bool) -> None:
        """A click on a person's box names them; a right-click opens their menu (name, pin or unpin)."""
        if context:
            self.person_menu(person_id, name).popup(where)
        else:
            self.name_person_dialog(person_id, name)

    def name_person_dialog(self, person_id: int, name: str) -> None:
        default = f"person {person_id}"
        text, ok = QInputDialog.getText(self, "Name this person",
                                        f"Name for {name or default} (empty: back to \"{default}\"):",
                                        text="" if name in ("", default) else name)
        if ok:
            self.session.name_person(person_id, text)

    def person_menu(self, person_id: int, name: str) -> QMenu:
        """The context menu of a person's box."""
        who = name or f"person {person_id}"
        menu = QMenu(self)
        menu.addAction(f"Name {who}...", lambda: self.name_person_dialog(person_id, name))
        if self.session.pinned == person_id:
            menu.addAction(f"Unpin {who} (voice and words follow the largest face)", lambda: self.pin_person(None))
        else:
            menu.addAction(f"Pin {who} as the primary person (voice and words)", lambda: self.pin_person(person_id))
            if self.session.pinned is not None:
                menu.addAction(f"Unpin person {self.session.pinned}", lambda: self.pin_person(None))
        return menu

    def pin_person(self, person_id: int | None) -> None:
        self.session.pin_person(person_id)
        self.video.pinned = self.session.pinned
        self.video.update()

    def forget_people_dialog(self) -> None:
        answer = QMessageBox.question(self, "Forget saved people", FORGET_TEXT)
        if answer == QMessageBox.StandardButton.Yes:
            self.forget_people()

    def forget_people(self) -> None:
        self.session.forget_people()
        self.video.pinned = self.session.pinned
