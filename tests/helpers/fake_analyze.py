"""Run `emolive analyze` with stand-in models (fast, no weights): ``python fake_analyze.py ARGS...``.

``install()`` swaps the offline jobs' model loaders for fakes; FAKE_STEP_DELAY (seconds per face call) slows
the run down so a test can kill it part-way.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fakes import EnergyVAD, FakeFace, FakeText, FakeVoice, ScriptedDecoder  # noqa: E402


class SlowFace(FakeFace):
    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s

    def process(self, frame, detect=None):
        time.sleep(self.delay_s)
        return super().process(frame, detect)


def install(setattr_=setattr, delay_s: float = 0.0) -> None:
    """Patch emolive.offline.loaders (``setattr_`` may be pytest's monkeypatch.setattr)."""
    from emolive.offline import loaders
    from emolive.offline.analysis import make_stream
    from emolive.runtime.channels import Channels

    def channels(_inference, _people=None):
        return Channels(face=SlowFace(delay_s) if delay_s else FakeFace(), voice=FakeVoice(), text=FakeText())

    setattr_(loaders, "channels", channels)
    setattr_(loaders, "whisper", lambda model, threads: None)
    setattr_(loaders, "stream", lambda config: make_stream(ScriptedDecoder(), config, vad=EnergyVAD()))


if __name__ == "__main__":
    install(delay_s=float(os.environ.get("FAKE_STEP_DELAY", "0")))
    from emolive.cli import main

    sys.exit(main(sys.argv[1:]))
