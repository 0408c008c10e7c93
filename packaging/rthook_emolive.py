"""PyInstaller runtime hook: the frozen app uses its bundled assets and never reaches for a model hub.

Runs before the entry script. Values the user already set win (``setdefault``).
"""

import os
import sys


def _configure(environ: dict, base: str | None) -> None:
    if base:
        assets = os.path.join(base, "assets")
        if os.path.isdir(assets):
            environ.setdefault("EMOLIVE_ASSETS", assets)
    environ.setdefault("HF_HUB_OFFLINE", "1")
    environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


_configure(os.environ, getattr(sys, "_MEIPASS", None))
