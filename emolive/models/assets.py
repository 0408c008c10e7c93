"""Where the bundled assets (default models, demo clip) live."""

from __future__ import annotations

import os
from pathlib import Path


def assets_dir() -> Path:
    """The ``assets/`` folder: $EMOLIVE_ASSETS, else next to the package (source tree or bundle)."""
    env = os.environ.get("EMOLIVE_ASSETS")
    if env:
        return Path(env)
    package = Path(__file__).resolve().parents[1]
    for candidate in (package.parent / "assets", package / "assets"):
        if candidate.is_dir():
            return candidate
    return package.parent / "assets"


def default_model_dir(modality: str) -> Path:
    """Folder of the shipped model for ``face``, ``voice``, ``text`` or ``fusion``."""
    return assets_dir() / modality


def demo_clip() -> Path:
    return assets_dir() / "demo" / "demo.mp4"
