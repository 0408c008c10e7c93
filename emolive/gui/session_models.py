"""Model switches of the session controller: a model folder loaded, the bundled models back, a hot swap of the
running pipeline (or a restart with the new models), persisted once settled. A mixin of ``SessionController``."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from emolive.config import AppConfig, InferenceConfig, with_changes
from emolive.core.errors import ModelError
from emolive.models.io import validate_model_folder
from emolive.runtime.channels import MODEL_FIELDS, validate_models

if TYPE_CHECKING:  # provided by SessionController
    from PySide6.QtCore import SignalInstance

    from emolive.gui.bridge import MessageRelay
    from emolive.gui.interfaces import PipelineLike


class ModelControl:
    """Model commands of the session; ``self`` is the ``SessionController``."""

    if TYPE_CHECKING:
        config: AppConfig
        pipeline: PipelineLike | None
        _swaps: deque[tuple[AppConfig, Callable[[str], None] | None]]
        _swap_relay: MessageRelay
        problem: SignalInstance
        notice: SignalInstance

        def _save(self, config: AppConfig) -> None: ...

        def restart(self, config: AppConfig | None = None, sources: object = None) -> None: ...

    def load_model(self, kind: str, folder: Path) -> bool:
        """Use the model in ``folder`` for ``kind`` (face/voice/text/fusion), persisted, without restarting.

        The folder is checked first (config, weights, kind); one that cannot be used changes nothing and
        ``problem`` says why. The setting is saved only once the new model has loaded.
        """
        try:
            validate_model_folder(kind, Path(folder))
        except ModelError as exc:
            self.problem.emit(f"Kept the current {kind} model: {exc}")
            return False
        self.switch_models(with_changes(self.config, "inference", **{MODEL_FIELDS[kind]: str(folder)}).inference)
        return True

    def reset_models(self) -> None:
        self.switch_models(with_changes(self.config, "inference", **dict.fromkeys(MODEL_FIELDS.values(), "")).inference)

    def switch_models(self, inference: InferenceConfig, on_done: Callable[[str], None] | None = None) -> None:
        """Hot-swap the running pipeline to ``inference`` (start one with it when none runs), then persist it.

        Nothing switches or is saved when a model folder cannot be used: the old models keep running and
        ``problem`` says why. ``on_done(problem)`` ("" when fine) is called once it is settled.
        """
        config = replace(self.config, inference=inference)
        if config == self.config:
            return
        try:
            validate_models(inference)
        except ModelError as exc:
            self._swap_settled(config, f"kept the current models: {exc}", on_done)
            return
        if self.pipeline is not None:
            self.notice.emit("Loading the model; the current one keeps running meanwhile...", 0)
            self._swaps.append((config, on_done))
            self.pipeline.swap_models(inference, self._swap_relay)
            return
        self._save(config)
        self.restart(config=config)
        if on_done is not None:
            on_done("")

    def _on_swapped(self, problem: str) -> None:
        """GUI thread: a hot swap started by ``switch_models`` finished (``problem`` "" when it switched)."""
        if not self._swaps:
            return
        config, on_done = self._swaps.popleft()
        self._swap_settled(config, f"kept the current models: {problem}" if problem else "", on_done)

    def _swap_settled(self, config: AppConfig, problem: str, on_done: Callable[[str], None] | None) -> None:
        if problem:
            self.problem.emit(f"Model switch: {problem}")
            self.notice.emit("", 0)
        else:
            self.config = config
            self._save(config)
            self.notice.emit("Switched models without restarting", 6000)
        if on_done is not None:
            on_done(problem)
