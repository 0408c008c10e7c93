"""The main window's menus: File, Session, Model, View, Help. Unavailable features stay visible, disabled,
with a tooltip that says why."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

from emolive.gui.video_view import emoji_font_available

if TYPE_CHECKING:
    from emolive.gui.main_window import MainWindow

OVERLAY_ENTRIES: tuple[tuple[str, str], ...] = (
    ("face_box", "Face &box"), ("label", "Emotion &label"), ("indicators", "&Modality indicators"),
    ("colors", "Emotion &colours"), ("emoji", "&Emoji"), ("latency", "La&tency"))


def module_available(name: str) -> bool:
    """Whether ``name`` can be imported (e.g. ``training.cli``, the trainers the Fine-tune dialog runs)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def add_action(parent: QWidget, menu: QMenu, text: str, slot: Callable | None = None, shortcut: str | None = None,
               checkable: bool = False, checked: bool = False, tip: str = "") -> QAction:
    """A menu entry; ``slot`` gets ``triggered`` (``toggled`` for a checkable entry)."""
    action = QAction(text, parent)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if checkable:
        action.setCheckable(True)
        action.setChecked(checked)
    if slot is not None:
        (action.toggled if checkable else action.triggered).connect(slot)
    if tip:
        action.setToolTip(tip)
        action.setStatusTip(tip)
    menu.addAction(action)
    return action


def unavailable(action: QAction, why: str) -> None:
    """Disable an entry whose feature is not there, saying why (tooltip and status tip)."""
    action.setEnabled(False)
    action.setToolTip(why)
    action.setStatusTip(why)


def build_menus(w: MainWindow) -> None:
    """Create the menus; their actions become attributes of ``w`` (``w.record_action``, ``w.view_actions``...)."""
    bar = w.menuBar()
    menu = bar.addMenu("&File")
    w.open_action = add_action(w, menu, "&Open video...", w.open_video_dialog, "Ctrl+O",
                               tip="Replay a media file as if it were live")
    w.live_action = add_action(w, menu, "Use &camera and microphone", w.use_live_sources, "Ctrl+L",
                               tip="Switch back to the live devices")
    menu.addSeparator()
    w.settings_action = add_action(w, menu, "&Settings...", w.open_settings, "Ctrl+,")
    menu.addSeparator()
    w.quit_action = add_action(w, menu, "&Quit", w.close, "Ctrl+Q")

    menu = bar.addMenu("&Session")
    w.record_action = add_action(w, menu, "Start &recording", w.toggle_recording, "Ctrl+R",
                                 tip="Record the estimates of this session to CSV")
    w.marker_action = add_action(w, menu, "Add &marker...", w.add_marker_dialog, "Ctrl+M",
                                 tip="Label this moment in the recording")
    if w.recorder is None:
        why = f"Recording is not available: {w.recorder_error or 'no session recorder'}"
        unavailable(w.record_action, why)
        unavailable(w.marker_action, why)
    else:
        w.marker_action.setEnabled(False)
        w.marker_action.setToolTip("Start a recording first")

    menu = bar.addMenu("&Model")
    w.finetune_action = add_action(w, menu, "&Fine-tune...", w.open_finetune,
                                   tip="Train a model on your data in the background, then use it")
    if not (module_available("training.cli") and module_available("emolive.gui.finetune_dialog")):
        unavailable(w.finetune_action, "Fine-tuning needs the `training` package (a source checkout)")
    w.calibrate_action = add_action(w, menu, "&Calibrate to me...", w.open_calibration,
                                    tip="A few guided prompts adapt the fusion to your face and voice")
    if not module_available("emolive.gui.calibration_dialog"):
        unavailable(w.calibrate_action, "Personal calibration is not available in this build")
    w.load_model_action = add_action(w, menu, "&Load model...", w.load_model_dialog,
                                     tip="Use a trained model folder (model.safetensors + config.json)")
    w.model_info_action = add_action(w, menu, "Model &info / cards...", w.show_model_cards)
    w.reset_models_action = add_action(w, menu, "&Reset to default", w.reset_models,
                                       tip="Use the bundled models again")

    menu = bar.addMenu("&View")
    w.view_actions = {key: add_action(w, menu, text, lambda on, k=key: w.set_overlay(k, on), checkable=True,
                                      checked=getattr(w.video.options, key)) for key, text in OVERLAY_ENTRIES}
    if not emoji_font_available():
        unavailable(w.view_actions["emoji"], "No emoji font is installed (e.g. fonts-noto-color-emoji)")
    menu.addSeparator()
    w.show_plots_action = add_action(w, menu, "&Plots", w.plots.setVisible, "Ctrl+1", checkable=True, checked=True)
    w.show_side_action = add_action(w, menu, "&Transcript and current estimate", w.side.setVisible, "Ctrl+2",
                                    checkable=True, checked=True)
    w.pause_action = add_action(w, menu, "P&ause traces", w.plots.set_paused, "P", checkable=True,
                                tip="Freeze the traces and scroll back through the session")
    w.plots.pause_button.toggled.connect(w.pause_action.setChecked)

    menu = bar.addMenu("&Help")
    w.about_action = add_action(w, menu, "&About emolive", w.show_about)
