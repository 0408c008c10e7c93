"""What the main window's menus do (File, Session, Model, Help): the dialogs they open and the session calls
they make. A mixin of ``MainWindow``, which holds the widgets and the session controller these use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from emolive.config import AppConfig, InferenceConfig
from emolive.core.errors import EmoliveError
from emolive.gui import dialogs
from emolive.gui.calibration_dialog import CalibrationDialog
from emolive.gui.finetune_dialog import FineTuneDialog
from emolive.gui.settings_dialog import SettingsDialog
from emolive.runtime.channels import MODEL_FIELDS

if TYPE_CHECKING:
    from emolive.gui.interfaces import Sources
    from emolive.gui.session import ModelSwitcher, SessionController

VIDEO_FILTER = "Media files (*.mp4 *.mkv *.avi *.mov *.webm *.m4v *.wav *.mp3 *.flac *.ogg);;All files (*)"


class MenuCommands:
    """The menu commands; ``self`` is the ``MainWindow`` (a QMainWindow with the attributes named below)."""

    session: SessionController
    finetune: FineTuneDialog | None
    calibration: CalibrationDialog | None
    _markers_added: int

    if TYPE_CHECKING:  # provided by MainWindow
        config: AppConfig
        sources: Sources
        model_switcher: ModelSwitcher

        def restart(self, config: AppConfig | None = None, sources: Sources | None = None) -> None: ...

    # --- File -----------------------------------------------------------------------------------
    def open_video_dialog(self) -> None:
        start = str(self.sources.video.parent) if self.sources.video is not None else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open video", start, VIDEO_FILTER)
        if path:
            self.open_video(Path(path))

    def open_video(self, path: Path) -> None:
        """Play ``path`` instead of the current source; a file that cannot be played leaves the session running."""
        from emolive.capture.media_file import probe_media

        try:
            probe_media(path)  # milliseconds: no need to stop what runs for a file that cannot play
        except EmoliveError as exc:
            self.banner.add(f"Could not open the video: {exc}")
            return
        self.restart(sources=replace(self.sources, video=Path(path)))

    def use_live_sources(self) -> None:
        self.restart(sources=self.session.live_sources())

    def open_settings(self) -> None:
        dialog = SettingsDialog(self.config, self)
        if dialog.exec():
            self.apply_config(dialog.result_config())

    def apply_config(self, config: AppConfig) -> None:
        """Persist ``config`` and restart when needed; during a recording the user is asked first."""
        self.session.apply_config(config, ask=self.ask_restart)

    def ask_restart(self, changed: list[str]) -> str:
        """Ask whether to end the recording for a restart: "now", "later" (when it ends) or "cancel"."""
        box = QMessageBox(self)
        box.setWindowTitle("Restart needed")
        box.setIcon(QMessageBox.Icon.Question)
        box.setText("These settings need a restart, which ends the recording:\n" + "\n".join(changed))
        now = box.addButton("Restart now", QMessageBox.ButtonRole.AcceptRole)
        later = box.addButton("After the recording", QMessageBox.ButtonRole.ApplyRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        clicked = box.clickedButton()
        return "now" if clicked is now else "later" if clicked is later else "cancel"

    # --- Session --------------------------------------------------------------------------------
    def toggle_recording(self) -> None:
        self.session.toggle_recording()

    def source_description(self) -> dict[str, str]:
        return self.session.source_description()

    def start_recording(self, directory: Path | None = None) -> bool:
        return self.session.start_recording(directory)

    def stop_recording(self) -> None:
        self.session.stop_recording()

    def set_output(self, key: str, on: bool) -> None:
        """Session menu: switch a live output (LSL, LSL markers, overlay) on or off for this and later sessions."""
        value: object = bool(on)
        if key == "lsl_markers":
            value = ""
            if on:
                name, ok = QInputDialog.getText(self, "Listen for LSL markers",
                                                "Name or type of the marker stream (e.g. PsychoPy's):",
                                                text=self.config.outputs.lsl_markers or "Markers")
                value = name.strip() if ok else ""
                if not value:
                    action = self.actions.outputs["lsl_markers"]
                    action.blockSignals(True)
                    action.setChecked(False)
                    action.blockSignals(False)
        self.session.set_outputs(**{key: value})

    def add_marker_dialog(self) -> None:
        label, ok = QInputDialog.getText(self, "Add marker", "Label for this moment (empty: numbered):")
        if ok:
            self.add_marker(label.strip())

    def add_marker(self, label: str) -> None:
        """Mark this moment of the recording; an empty label becomes ``marker N`` (N counts this recording's)."""
        if self.recording_dir is None:
            return
        self._markers_added += 1
        label = label.strip() or f"marker {self._markers_added}"
        t = self.session.add_marker(label)
        if t is not None:
            self.plots.add_marker(t, label)
        self.statusBar().showMessage(f"Marker added: {label}", 4000)

    # --- Model ----------------------------------------------------------------------------------
    def load_model_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model folder (model.safetensors + config.json)")
        if not folder:
            return
        kinds = list(MODEL_FIELDS)
        guess = dialogs.guess_model_kind(Path(folder))
        kind, ok = QInputDialog.getItem(self, "Load model", "Which model does this folder hold?", kinds,
                                        kinds.index(guess) if guess in kinds else 0, False)
        if ok:
            self.load_model(kind, Path(folder))

    def load_model(self, kind: str, folder: Path) -> bool:
        """Use the model in ``folder`` for ``kind``, persisted, without restarting (see SessionController)."""
        return self.session.load_model(kind, folder)

    def reset_models(self) -> None:
        self.banner.dismiss()  # earlier model errors no longer apply to the shipped models
        self.session.reset_models()

    def switch_models(self, inference: InferenceConfig, on_done: Callable[[str], None] | None = None) -> None:
        self.session.switch_models(inference, on_done)

    def open_finetune(self) -> None:
        if self.finetune is None:  # one dialog, so a run keeps going while it is hidden
            self.finetune = FineTuneDialog(self, self.model_switcher, self.config)
            self.finetune.model_ready.connect(lambda kind, folder: self.load_model(kind, Path(folder)))
        self.finetune.show()
        self.finetune.raise_()

    def open_calibration(self) -> None:
        if self.calibration is None:
            self.calibration = CalibrationDialog(self, self.model_switcher, self.config,
                                                 file_source=lambda: str(self.sources.video or ""))
        self.calibration.show()
        self.calibration.raise_()

    def show_model_cards(self) -> None:
        dialogs.ModelCardsDialog(self).exec()

    def show_about(self) -> None:
        QMessageBox.about(self, "About emolive", dialogs.about_html())
