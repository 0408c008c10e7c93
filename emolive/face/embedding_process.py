"""The identity embedder in a child process, for live use.

dlib keeps Python's GIL while it computes (about 135 ms of CPU per face here): run on the detection thread in
the app's own process, every other thread (the inference steps, the GUI) would stall that long. The child
process loads the models once; each call sends the part of the frame around the faces and gets the vectors back.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from emolive.core.errors import ModelError

log = logging.getLogger(__name__)

MARGIN = 0.5  # share of a face's size kept around it in the part of the frame sent
NICE = 10  # the child's lower CPU priority: on a busy machine the inference steps go first, embeddings wait


def crop_around(image: np.ndarray, boxes: list[tuple[float, float, float, float]],
                margin: float = MARGIN) -> tuple[np.ndarray, list[tuple[float, float, float, float]]]:
    """The smallest part of ``image`` holding every box grown by ``margin``, and the boxes moved into it."""
    h, w = image.shape[:2]
    x0 = max(0, int(min(x - margin * bw for x, _, bw, _ in boxes)))
    y0 = max(0, int(min(y - margin * bh for _, y, _, bh in boxes)))
    x1 = min(w, int(max(x + bw * (1 + margin) for x, _, bw, _ in boxes)) + 1)
    y1 = min(h, int(max(y + bh * (1 + margin) for _, y, _, bh in boxes)) + 1)
    if x1 <= x0 or y1 <= y0:
        return image, list(boxes)
    return np.ascontiguousarray(image[y0:y1, x0:x1]), [(x - x0, y - y0, bw, bh) for x, y, bw, bh in boxes]


def _serve(conn: Connection, jitter: int, nice: int) -> None:
    from emolive.face.embedding import load_embedder

    if nice:
        with contextlib.suppress(AttributeError, OSError):  # no os.nice on Windows: the child keeps its priority
            os.nice(nice)
    try:
        embedder = load_embedder(jitter)
    except ModelError as exc:
        conn.send(("error", str(exc)))
        return
    conn.send(("ok", None))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        try:
            conn.send(("ok", embedder.embed(*message)))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
            conn.send(("error", f"face identity embedding failed: {exc}"))


class EmbedderProcess:
    """Same ``embed`` as ``DlibFaceEmbedder``, computed in a child process; ``close`` ends it."""

    def __init__(self, jitter: int = 0, timeout_s: float = 30.0, nice: int = NICE) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, jitter, nice), daemon=True,
                                         name="emolive-face-identity")
        self._process.start()
        child.close()
        self.timeout_s = timeout_s
        try:
            self._answer()  # the models loaded, or ModelError with the child's message
        except ModelError:
            self.close()
            raise

    def _answer(self) -> Any:
        if not self._conn.poll(self.timeout_s):
            raise ModelError(f"the face identity process did not answer within {self.timeout_s:g} s")
        try:
            status, value = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise ModelError("the face identity process ended unexpectedly") from exc
        if status != "ok":
            raise ModelError(value)
        return value

    def embed(self, image: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> list[np.ndarray | None]:
        if not boxes:
            return []
        part, moved = crop_around(image, boxes)
        self._conn.send((part, moved))
        return self._answer()

    def close(self, timeout: float = 2.0) -> None:
        """Ask the child to end, and end it if it does not within ``timeout`` seconds."""
        with contextlib.suppress(OSError, ValueError):
            self._conn.send(None)
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout)
        self._conn.close()

    def __enter__(self) -> EmbedderProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
