"""Run `emolive analyze` with stand-in models (fast, no weights): ``python fake_analyze.py ARGS...``.

``install()`` swaps the batch module's model loaders for fakes; FAKE_STEP_DELAY (seconds per face call) slows
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
    """Patch emolive.offline.batch (``setattr_`` may be pytest's monkeypatch.setattr)."""
    import emolive.offline.batch as batch
    from emolive.offline.analysis import make_stream
    from emolive.runtime.channels import Channels

    def channels(_inference_json):
        return Channels(face=SlowFace(delay_s) if delay_s else FakeFace(), voice=FakeVoice(), text=FakeText())

    setattr_(batch, "_channels", channels)
    setattr_(batch, "_whisper", lambda model, threads: None)
    setattr_(batch, "_stream_for", lambda config, whisper: make_stream(ScriptedDecoder(), config.asr,
                                                                       vad=EnergyVAD()))


if __name__ == "__main__":
    install(delay_s=float(os.environ.get("FAKE_STEP_DELAY", "0")))
    from emolive.cli import main

    sys.exit(main(sys.argv[1:]))
