"""Run a few independent loading tasks side by side (the channels' models load and warm up at once).

Most of a model's loading is native work that lets go of the GIL (ONNX Runtime building a session, CTranslate2
reading Whisper, the first inference passes), so the face, voice and text channels load in about the time of the
slowest instead of the sum. Python's imports are not parallel work and two threads importing the same packages
can meet on the import locks, so ``import_ahead`` imports the heavy packages on the calling thread first.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

log = logging.getLogger(__name__)

# the packages the channels import lazily while loading (a missing optional one is left to the loader to report)
HEAVY_IMPORTS = ("numpy", "onnxruntime", "cv2", "faster_whisper", "ctranslate2", "tokenizers", "safetensors")
FACE_IMPORTS = ("numpy", "onnxruntime", "cv2", "emolive.face.channel")  # the face channel's alone


def import_ahead(names: Iterable[str] = HEAVY_IMPORTS) -> None:
    """Import ``names`` on this thread (those that are installed)."""
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            log.debug("import ahead: %s is not installed", name)


def in_parallel(tasks: Mapping[str, Callable[[], Any]], parallel: bool = True) -> dict[str, Any]:
    """Each task's result by its key. With ``parallel`` (and more than one task) every task but the first runs
    on a thread of its own and the first on the calling thread; all are waited for, then the first exception, in
    the order of ``tasks``, is raised again. Without, they run one after the other in that order."""
    items = list(tasks.items())
    if not parallel or len(items) < 2:
        return {key: task() for key, task in items}
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}

    def run(key: str, task: Callable[[], Any]) -> None:
        try:
            results[key] = task()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller's thread below
            errors[key] = exc

    threads = [threading.Thread(target=run, args=item, name=f"emolive-load-{item[0]}", daemon=True)
               for item in items[1:]]
    for thread in threads:
        thread.start()
    run(*items[0])
    for thread in threads:
        thread.join()
    for key, _task in items:
        if key in errors:
            raise errors[key]
    return {key: results[key] for key, _task in items}
