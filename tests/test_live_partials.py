"""asr.live_partials: the live transcriber decodes unfinished utterances (default) or each utterance once."""

from __future__ import annotations

import pytest

from emolive.config import load_config
from emolive.runtime.pipeline import LivePipeline


class _Made:
    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        self.kwargs = kwargs

    def start(self) -> None:
        pass


@pytest.mark.parametrize(("setting", "partials"), [([], True), (["asr.live_partials=false"], False)])
def test_the_live_transcriber_gets_the_partials_setting(monkeypatch, setting, partials) -> None:
    made: list[_Made] = []
    monkeypatch.setattr("emolive.asr.transcriber.Transcriber", lambda *a, **k: made.append(_Made(*a, **k)) or made[-1])
    config = load_config(None, ["asr.interval_s=2.0", *setting])
    LivePipeline(config, camera=None, microphone=None)._start_transcriber()
    [tr] = made
    assert tr.kwargs["config"].partials is partials and tr.kwargs["config"].interval_s == 2.0
    assert not tr.kwargs["config"].file_clock  # live: the session clock
