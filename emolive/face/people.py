"""Several people in view: the identity parts a face channel needs, and which tracks it scores.

``people_parts`` builds the ``PersonRegistry`` and the identity embedder from the ``[people]`` settings.
The embedder is dlib's, in a child process (``embedding_process``), started only when the first face needs an
embedding: a session without faces never starts it. Without the ``[people]`` extra, identities switch off with
one log line and persons are tracks only.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from emolive.face.embedding import MISSING, models_folder
from emolive.face.identity import IdentitySettings, PersonRegistry

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]


def identities_installed() -> bool:
    """dlib and the ``face-recognition-models`` weights are installed (found without importing them)."""
    return importlib.util.find_spec("dlib") is not None and models_folder() is not None


class LazyEmbedder:
    """An embedder made by ``factory`` at its first ``embed`` (on the thread that embeds, so starting the child
    process never holds up a step); ``start_s`` is how long that took. ``close`` ends it."""

    def __init__(self, factory: Callable[[], Any] | None = None) -> None:
        self._factory = factory or _child_process
        self._inner: Any = None
        self.start_s: float | None = None

    @property
    def started(self) -> bool:
        return self._inner is not None

    def embed(self, image: np.ndarray, boxes: list[Box]) -> list[np.ndarray | None]:
        if not boxes:
            return []
        if self._inner is None:
            began = time.perf_counter()
            self._inner = self._factory()
            self.start_s = time.perf_counter() - began
            log.info("face identities: embedder started in %.1f s", self.start_s)
        return self._inner.embed(image, boxes)

    def close(self) -> None:
        inner, self._inner = self._inner, None
        if inner is not None and hasattr(inner, "close"):
            inner.close()


def _child_process() -> Any:
    """dlib in a child process; in this process when it may have none (a daemonic process: a Dask worker)."""
    import multiprocessing

    if multiprocessing.current_process().daemon:
        from emolive.face.embedding import load_embedder

        log.info("face identities: embedding in this process (a daemonic process may not start one)")
        return load_embedder()
    from emolive.face.embedding_process import EmbedderProcess

    return EmbedderProcess()


def people_parts(identities: bool, embedder_factory: Callable[[], Any] | None = None,
                 installed: Callable[[], bool] | None = None,
                 import_solver: bool = True) -> tuple[PersonRegistry, LazyEmbedder | None]:
    """The registry and the (lazy) embedder; identities off, or not installed (``installed``, default
    ``identities_installed``): tracks only, no embedder. ``import_solver`` False leaves the import of the
    registry's assignment solver for two faces or more (scipy.optimize) to the caller."""
    if identities and not (installed or identities_installed)():
        log.warning("%s", MISSING)
        identities = False
    if identities and import_solver:
        import scipy.optimize  # noqa: F401 - the registry's assignment: imported now, not in a step (~1-3 s)
    registry = PersonRegistry(IdentitySettings(enabled=identities))
    return registry, (LazyEmbedder(embedder_factory) if identities else None)


def area(box: Box) -> float:
    return float(box[2] * box[3])


def scored_order(primary: Any, tracks: list[Any], max_faces: int) -> list[Any]:
    """The tracks scored this step: the primary first, then the others largest first, ``max_faces`` in all."""
    others = sorted((t for t in tracks if t is not primary), key=lambda t: -area(t.box))
    return [primary, *others][:max(1, max_faces)]
