"""Shared fixtures: offscreen Qt, offline hubs, generated media clips."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # as emolive/__init__.py does: no look-ups by onnxruntime
# LSL discovery stays on this machine in every test (before anything imports pylsl): see tests/lsl_api.cfg
os.environ["LSLAPICFG"] = str(Path(__file__).resolve().parent / "lsl_api.cfg")

sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def demo_clip() -> Path:
    path = REPO / "assets" / "demo" / "demo.mp4"
    assert path.is_file(), "the demo clip must be committed"
    return path


@pytest.fixture(scope="session")
def sync_clip(tmp_path_factory) -> Path:
    """A 60 s clip with a white flash and a beep together every 5 s (for A/V alignment tests)."""
    from helpers.media import write_sync_clip

    return write_sync_clip(tmp_path_factory.mktemp("media") / "sync.mp4", seconds=60.0)


@pytest.fixture
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user's config.toml is read or written: the config folder is the test's own."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    """`emolive analyze` on stand-in models (tests/helpers/fake_analyze.py)."""
    from helpers.fake_analyze import install

    install(monkeypatch.setattr)
