"""A settings file that cannot be used, said in a dialog (a launcher shows no terminal): use the defaults for this
run, open the file, or quit."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox

log = logging.getLogger(__name__)

DEFAULTS, OPEN, QUIT = "defaults", "open", "quit"


def can_show_dialogs() -> bool:
    """Whether a window can be seen here (a display, and not Qt's offscreen platform)."""
    if os.environ.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "minimal")):
        return False
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def config_problem_box(problem: str, path: Path | None) -> QMessageBox:
    """The question; each button's ``choice`` property is DEFAULTS, OPEN or QUIT."""
    box = QMessageBox(QMessageBox.Icon.Warning, "emolive: settings problem",
                      "The settings cannot be used, so emolive did not start with them.")
    box.setInformativeText(problem)
    for text, choice, role in (("Use the defaults for this run", DEFAULTS, QMessageBox.ButtonRole.AcceptRole),
                               ("Open the settings file", OPEN, QMessageBox.ButtonRole.ActionRole),
                               ("Quit", QUIT, QMessageBox.ButtonRole.RejectRole)):
        if choice == OPEN and (path is None or not path.is_file()):
            continue
        button = box.addButton(text, role)
        button.setProperty("choice", choice)
        if choice == DEFAULTS:
            box.setDefaultButton(button)
    return box


def ask_about_config(problem: str, path: Path | None) -> str:
    """Show the question and return the choice (QUIT when the box is closed); OPEN opens the file first."""
    from emolive.gui.app import application

    application()
    box = config_problem_box(problem, path)
    box.exec()
    clicked = box.clickedButton()
    choice = str(clicked.property("choice")) if clicked is not None and clicked.property("choice") else QUIT
    if choice == OPEN and path is not None and not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
        log.warning("could not open %s", path)
    return choice
