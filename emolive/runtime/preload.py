"""Load the models on a helper thread while the window is still being built (the app's launch).

The window's imports (Qt, pyqtgraph) and the models' (ONNX Runtime, CTranslate2, OpenCV) and their loading
take about the same time; one after the other they were most of the launch. ``ChannelPreload.start`` begins
loading at once; the first pipeline takes the loaded channels with ``take`` (waiting for them if need be).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from emolive.config import InferenceConfig, PeopleConfig

if TYPE_CHECKING:  # pragma: no cover
    from emolive.runtime.channels import Channels

log = logging.getLogger(__name__)


class ChannelPreload:
    """The channels of one ``InferenceConfig`` (with the persons of one ``PeopleConfig``, if given), loaded
    (non-strict, warmed up) on a daemon thread, taken once."""

    def __init__(self, config: InferenceConfig, people: PeopleConfig | None = None) -> None:
        self.config = config
        self.people = people
        self._channels: Channels | None = None
        self._taken = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._load, name="emolive-preload", daemon=True)

    @classmethod
    def start(cls, config: InferenceConfig, people: PeopleConfig | None = None) -> ChannelPreload:
        """Begin loading now (the default voice model loads the Whisper model the transcriber shares; ``people``:
        the face channel's persons are set up here too, their identity matcher's imports off the pipeline's start)."""
        preload = cls(config, people)
        preload._thread.start()
        return preload

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            # imported here, on this thread: the point is that these imports run beside the window's
            from emolive.runtime.channels import load_channels

            self._channels = load_channels(self.config, strict=False, people=self.people)
        except Exception:  # noqa: BLE001 - the pipeline then loads (and reports) as without a preload
            log.warning("preloading the models failed; the pipeline loads them itself", exc_info=True)
            self._channels = None
        log.info("models preloaded in %.2f s", time.perf_counter() - started)

    def take(self, config: InferenceConfig, timeout: float | None = None,
             people: PeopleConfig | None = None) -> Channels | None:
        """The loaded channels if ``config`` (and ``people``) are the preloaded ones and nobody took them yet, else
        None.

        Waits for the loading (up to ``timeout`` seconds); a later call, or one for other settings, gets None
        (that pipeline loads its own).
        """
        with self._lock:
            if self._taken or config != self.config or people != self.people:
                return None
            self._taken = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            return None
        channels, self._channels = self._channels, None
        return channels
