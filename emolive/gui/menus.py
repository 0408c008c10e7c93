"""The main window's menus: File, Session, Model, View, Help. Unavailable features stay visible, disabled,
with a tooltip that says why."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QWidget

from emolive.gui.overlay import OverlayOptions
from emolive.gui.video_view import emoji_font_available

if TYPE_CHECKING:  # pragma: no cover - pyqtgraph is imported with the plots, not with the menus
    from emolive.gui.plots import EmotionPlots
    from emolive.gui.plots_slot import PlotsSlot

OUTPUT_ENTRIES: tuple[tuple[str, str, str], ...] = (
    ("lsl", "Stream to &LSL", "Publish the estimates and markers to the Lab Streaming Layer (LabRecorder, ...)"),
    ("lsl_markers", "Listen for LSL mar&kers...", "Write the markers of an LSL stream (e.g. PsychoPy's) into the "
                                                 "recording"),
    ("overlay", "Serve &overlay", "A local WebSocket and the OBS overlay page (docs/outputs.md)"))
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


class MenuSlots(Protocol):
    """What the menu entries call (the main window implements these)."""

    def open_video_dialog(self) -> None: ...
    def use_live_sources(self) -> None: ...
    def open_settings(self) -> None: ...
    def close(self) -> bool: ...
    def toggle_recording(self) -> None: ...
    def add_marker_dialog(self) -> None: ...
    def set_output(self, key: str, on: bool) -> None: ...
    def forget_people_dialog(self) -> None: ...
    def open_finetune(self) -> None: ...
    def open_calibration(self) -> None: ...
    def load_model_dialog(self) -> None: ...
    def show_model_cards(self) -> None: ...
    def reset_models(self) -> None: ...
    def set_overlay(self, key: str, on: bool) -> None: ...
    def show_about(self) -> None: ...


@dataclass(frozen=True)
class MenuActions:
    """The menu entries the window changes later (and tests trigger)."""

    open: QAction
    live: QAction
    settings: QAction
    quit: QAction
    record: QAction
    marker: QAction
    outputs: dict[str, QAction]  # live outputs ("lsl", "lsl_markers", "overlay"), checked when on
    forget_people: QAction
    finetune: QAction
    calibrate: QAction
    load_model: QAction
    model_info: QAction
    reset_models: QAction
    view: dict[str, QAction]  # overlay elements, by OverlayOptions field
    show_plots: QAction
    show_side: QAction
    pause: QAction
    about: QAction

    def set_recording(self, recording: bool) -> None:
        """Session menu entries for a recording that runs (or not)."""
        self.record.setText("Stop &recording" if recording else "Start &recording")
        self.marker.setEnabled(recording)
        self.marker.setToolTip("Label this moment in the recording" if recording else "Start a recording first")


def build_menus(window: QMainWindow, slots: MenuSlots, overlay: OverlayOptions, plots: EmotionPlots | PlotsSlot,
                side: QWidget,
                recording_unavailable: str = "", settings_outputs: object = None) -> MenuActions:
    """Create the menus in ``window``'s menu bar; ``recording_unavailable`` (why there is no recorder) disables
    the Session entries; ``settings_outputs`` (the ``[outputs]`` settings) checks the live outputs that are on."""
    bar = window.menuBar()
    menu = bar.addMenu("&File")
    open_ = add_action(window, menu, "&Open video...", slots.open_video_dialog, "Ctrl+O",
                       tip="Replay a media file as if it were live")
    live = add_action(window, menu, "Use &camera and microphone", slots.use_live_sources, "Ctrl+L",
                      tip="Switch back to the live devices")
    menu.addSeparator()
    settings = add_action(window, menu, "&Settings...", slots.open_settings, "Ctrl+,")
    menu.addSeparator()
    quit_ = add_action(window, menu, "&Quit", slots.close, "Ctrl+Q")

    menu = bar.addMenu("&Session")
    record = add_action(window, menu, "Start &recording", slots.toggle_recording, "Ctrl+R",
                        tip="Record the estimates of this session to CSV")
    marker = add_action(window, menu, "Add &marker...", slots.add_marker_dialog, "Ctrl+M",
                        tip="Label this moment in the recording")
    if recording_unavailable:
        why = f"Recording is not available: {recording_unavailable}"
        unavailable(record, why)
        unavailable(marker, why)
    else:
        marker.setEnabled(False)
        marker.setToolTip("Start a recording first")
    menu.addSeparator()
    outputs = {key: add_action(window, menu, text, lambda on, k=key: slots.set_output(k, on), checkable=True,
                               checked=bool(getattr(settings_outputs, key, False)), tip=tip)
               for key, text, tip in OUTPUT_ENTRIES}
    menu.addSeparator()
    forget_people = add_action(window, menu, "Forget saved &people...", slots.forget_people_dialog,
                               tip="Delete the names and face-identity embeddings kept for the next session "
                                   "(Settings > remember named people)")

    menu = bar.addMenu("&Model")
    finetune = add_action(window, menu, "&Fine-tune...", slots.open_finetune,
                          tip="Train a model on your data in the background, then use it")
    if not (module_available("training.cli") and module_available("emolive.gui.finetune_dialog")):
        unavailable(finetune, "Fine-tuning needs the `training` package (a source checkout)")
    calibrate = add_action(window, menu, "&Calibrate to me...", slots.open_calibration,
                           tip="A few guided prompts adapt the fusion to your face and voice")
    if not module_available("emolive.gui.calibration_dialog"):
        unavailable(calibrate, "Personal calibration is not available in this build")
    load_model = add_action(window, menu, "&Load model...", slots.load_model_dialog,
                            tip="Use a trained model folder (model.safetensors + config.json)")
    model_info = add_action(window, menu, "Model &info / cards...", slots.show_model_cards)
    reset_models = add_action(window, menu, "&Reset to default", slots.reset_models, tip="Use the bundled models again")

    menu = bar.addMenu("&View")
    view = {key: add_action(window, menu, text, lambda on, k=key: slots.set_overlay(k, on), checkable=True,
                            checked=getattr(overlay, key)) for key, text in OVERLAY_ENTRIES}
    if not emoji_font_available():
        unavailable(view["emoji"], "No emoji font is installed (e.g. fonts-noto-color-emoji)")
    menu.addSeparator()
    show_plots = add_action(window, menu, "&Plots", plots.setVisible, "Ctrl+1", checkable=True, checked=True)
    show_side = add_action(window, menu, "&Transcript and current estimate", side.setVisible, "Ctrl+2",
                           checkable=True, checked=True)
    pause = add_action(window, menu, "P&ause traces", plots.set_paused, "P", checkable=True,
                       tip="Freeze the traces and scroll back through the session")
    plots.pause_button.toggled.connect(pause.setChecked)

    menu = bar.addMenu("&Help")
    about = add_action(window, menu, "&About emolive", slots.show_about)
    return MenuActions(open=open_, live=live, settings=settings, quit=quit_, record=record, marker=marker,
                       outputs=outputs, forget_people=forget_people,
                       finetune=finetune, calibrate=calibrate, load_model=load_model, model_info=model_info,
                       reset_models=reset_models, view=view, show_plots=show_plots, show_side=show_side, pause=pause,
                       about=about)
