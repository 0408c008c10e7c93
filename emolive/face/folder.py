"""Labelled image folders (one subfolder per class) mapped onto the canonical emotions."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from emolive.core.errors import EmoliveError
from emolive.core.labels import class_folder_files

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm"})


def list_image_folder(root: Path) -> tuple[list[tuple[Path, int]], Counter[str]]:
    """Files of ``root/<class>/*`` with their index in labels.EMOTIONS, sorted for determinism.

    Classes without a canonical equivalent are skipped; the returned Counter counts their images under
    ``"unknown class: NAME"``. Raises EmoliveError when ``root`` is missing or holds no labelled image.
    """
    root = Path(root)
    if not root.is_dir():
        raise EmoliveError(f"image folder not found: {root}")
    items, skipped = class_folder_files(root, IMAGE_SUFFIXES, recursive=True)
    if not items:
        raise EmoliveError(f"no labelled images in {root} (expected one subfolder per emotion class)")
    log.info("%s: %d images, skipped %s", root, len(items), dict(skipped) or "none")
    return items, skipped
