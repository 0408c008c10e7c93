"""Load the models on a helper thread while the window is still being built (the app's launch), the face first.

The window's imports (Qt, pyqtgraph) and the models' loading took about the same time, and the voice (Whisper)
and text models take longer than the face's. ``ChannelPreload.start`` begins loading at once, one channel after
the other: the face channel (with its persons), then the voice, then the text channel. The first pipeline takes
them with ``take_staged`` as soon as the face is ready and starts with it alone; the voice and text channels join
it when loaded (``LaterChannels``), so the first estimate in the window comes from the face while they load.
``take`` waits for all three instead (one ``Channels``, as one ``load_channels`` call gives).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from emolive.config import InferenceConfig, PeopleConfig

if TYPE_CHECKING:  # pragma: no cover
    from emolive.runtime.channels import Channels

log = logging.getLogger(__name__)

LATER: tuple[str, ...] = ("voice", "text")  # in the order they load, after the face
RELEASE_WAIT_S = 10.0  # the later loads begin at the first estimate, or after this long without one
Arrival = Callable[[str, "Channels"], None]  # (kind, Channels holding that kind or None, and its problems)


class LaterChannels:
    """Channels still loading after a pipeline started. Each kind arrives once (``arrive``, on the loading
    thread), as a ``Channels`` holding it (None when it could not load: its ``problems`` say why); a subscriber
    gets those already arrived at once, then each new one on the loading thread.

    Their loading waits for ``release``: a pipeline sink itself, the first estimate releases it, so that the
    voice and text loads do not take the CPU from the window's set-up and the first step on a small machine.
    """

    def __init__(self, kinds: tuple[str, ...] = LATER) -> None:
        self.kinds = tuple(kinds)
        self.started = time.perf_counter()
        self._arrived: list[tuple[str, Channels]] = []
        self._subscriber: Arrival | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self.released = threading.Event()
        if not self.kinds:
            self._done.set()

    def release(self) -> None:
        """Let the loading begin (at once if it waits)."""
        self.released.set()

    def on_estimate(self, _estimate: object) -> None:
        """As a pipeline sink: the first estimate releases the loading."""
        if not self.released.is_set():
            self.released.set()

    def on_segment(self, _segment: object) -> None:
        """As a pipeline sink: nothing to do."""

    def on_event(self, _event: object) -> None:
        """As a pipeline sink: nothing to do."""

    @property
    def loading(self) -> tuple[str, ...]:
        """The kinds that have not arrived yet."""
        with self._lock:
            arrived = {kind for kind, _ in self._arrived}
        return tuple(kind for kind in self.kinds if kind not in arrived)

    def arrive(self, kind: str, channels: Channels) -> None:
        """``kind`` finished loading (or failed); told to the subscriber, if any, on this thread."""
        with self._lock:
            if kind not in self.kinds or any(k == kind for k, _ in self._arrived):
                return
            self._arrived.append((kind, channels))
            subscriber = self._subscriber
            if len(self._arrived) == len(self.kinds):
                self._done.set()
        if subscriber is not None:
            subscriber(kind, channels)

    def fail(self, message: str) -> None:
        """Every kind not arrived yet arrives empty, with ``message`` as its problem (the loading thread broke)."""
        from emolive.runtime.channels import Channels

        for kind in self.loading:
            self.arrive(kind, Channels(problems=(f"{kind} channel unavailable: {message}",)))

    def subscribe(self, callback: Arrival) -> None:
        """Call ``callback(kind, channels)`` for each kind: now for those already arrived, later for the others."""
        with self._lock:
            self._subscriber = callback
            arrived = list(self._arrived)
        for kind, channels in arrived:
            callback(kind, channels)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every kind has arrived (True), at most ``timeout`` seconds."""
        return self._done.wait(timeout)


class ChannelPreload:
    """The channels of one ``InferenceConfig`` (with the persons of one ``PeopleConfig``, if given), loaded
    (non-strict, warmed up) on a daemon thread, the face first; taken once."""

    def __init__(self, config: InferenceConfig, people: PeopleConfig | None = None) -> None:
        self.config = config
        self.people = people
        self.face: Channels | None = None  # the face stage's result (None until it is done, or when it broke)
        self.later = LaterChannels()
        self._face_done = threading.Event()
        self._taken = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._load, name="emolive-preload", daemon=True)

    @classmethod
    def start(cls, config: InferenceConfig, people: PeopleConfig | None = None) -> ChannelPreload:
        """Begin loading now (the default voice model loads the Whisper model the transcriber shares; ``people``:
        the face channel's persons are set up with it)."""
        preload = cls(config, people)
        preload._thread.start()
        return preload

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            # imported here, on this thread: the point is that these imports run beside the window's
            from emolive.runtime.channels import load_channels
            from emolive.runtime.parallel import import_ahead

            self.face = load_channels(self.config, voice=False, text=False, strict=False, people=self.people,
                                      import_solver=False)
            log.info("face channel preloaded in %.2f s", time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001 - the pipeline then loads (and reports) as without a preload
            log.warning("preloading the models failed; the pipeline loads them itself (%s)", exc)
            log.debug("preload failure", exc_info=True)
            self.later.fail(str(exc))
            return
        finally:
            self._face_done.set()
        try:
            if not self.later.released.wait(RELEASE_WAIT_S):
                log.info("no first estimate after %.0f s: the voice and text channels load now", RELEASE_WAIT_S)
            for kind in LATER:
                channels = load_channels(self.config, face=False, **{k: k == kind for k in LATER}, strict=False)
                self.later.arrive(kind, channels)
            if self.people is not None and self.people.identities:
                import_ahead(("scipy.optimize",))  # the persons' solver for two faces or more, off the first steps
        except Exception as exc:  # noqa: BLE001 - said in the window (the pipeline's events), not a traceback
            log.warning("loading the voice and text channels failed: %s", exc)
            log.debug("preload failure", exc_info=True)
            self.later.fail(str(exc))
        log.info("models preloaded in %.2f s", time.perf_counter() - started)

    def _claim(self, config: InferenceConfig, people: PeopleConfig | None) -> bool:
        with self._lock:
            if self._taken or config != self.config or people != self.people:
                return False
            self._taken = True
            return True

    def take_staged(self, config: InferenceConfig, timeout: float | None = None,
                    people: PeopleConfig | None = None) -> tuple[Channels, LaterChannels] | None:
        """The face channel (waiting for it up to ``timeout`` seconds) and the voice and text channels still
        loading, if ``config`` (and ``people``) are the preloaded ones and nobody took them yet; else None (that
        pipeline loads its own)."""
        if not self._claim(config, people) or not self._face_done.wait(timeout) or self.face is None:
            return None
        face, self.face = self.face, None
        return face, self.later

    def take(self, config: InferenceConfig, timeout: float | None = None,
             people: PeopleConfig | None = None) -> Channels | None:
        """All the loaded channels in one (waiting up to ``timeout`` seconds), or None as ``take_staged``."""
        started = time.monotonic()
        staged = self.take_staged(config, timeout, people)
        if staged is None:
            return None
        face, later = staged
        later.release()
        left = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
        if not later.wait(left):
            return None
        collected: dict[str, Channels] = {}
        later.subscribe(lambda kind, channels: collected.__setitem__(kind, channels))
        problems = list(face.problems)
        for kind in LATER:
            setattr(face, kind, getattr(collected[kind], kind))
            problems += collected[kind].problems
        face.problems = tuple(problems)
        return face
