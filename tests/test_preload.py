"""ChannelPreload: the window's first pipeline takes the models loaded beside the window's set-up, once."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from emolive.config import AppConfig, InferenceConfig
from emolive.runtime import channels as channels_module
from emolive.runtime.channels import Channels
from emolive.runtime.preload import ChannelPreload


class Calls(list):
    """The fake loader's calls; it finishes once ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()


@pytest.fixture
def fake_load(monkeypatch: pytest.MonkeyPatch) -> Calls:
    calls = Calls()
    release = calls.release

    def load_channels(config: InferenceConfig, strict: bool = True, **kwargs: object) -> Channels:
        release.wait(5)
        calls.append((config, strict))
        calls.people = kwargs.get("people")
        return Channels(problems=("loaded by the fake",))

    monkeypatch.setattr(channels_module, "load_channels", load_channels)
    return calls


def test_the_first_take_waits_for_the_loaded_channels_and_later_ones_get_none(fake_load: Calls) -> None:
    config = InferenceConfig()
    preload = ChannelPreload.start(config)
    threading.Timer(0.05, fake_load.release.set).start()
    channels = preload.take(config)
    assert channels is not None and channels.problems == ("loaded by the fake",)
    assert fake_load == [(config, False)]  # not strict: the window starts without a model that cannot load
    assert preload.take(config) is None


def test_other_settings_or_a_failed_load_get_none(fake_load: Calls, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_load.release.set()
    preload = ChannelPreload.start(InferenceConfig())
    assert preload.take(replace(InferenceConfig(), face_detect_every=3)) is None
    assert preload.take(InferenceConfig()) is not None  # still there for its own settings

    def broken(*_: object, **__: object) -> Channels:
        raise RuntimeError("no models here")

    monkeypatch.setattr(channels_module, "load_channels", broken)
    assert ChannelPreload.start(InferenceConfig()).take(InferenceConfig()) is None


def test_the_window_factory_hands_the_preloaded_channels_to_the_first_pipeline(fake_load: Calls) -> None:
    pytest.importorskip("PySide6")
    from emolive.gui.app import preloaded_pipeline
    from emolive.gui.interfaces import Sources

    fake_load.release.set()
    config = AppConfig()
    factory = preloaded_pipeline(ChannelPreload.start(config.inference, config.people))  # as `emolive run` does
    sources = Sources(camera=None, microphone=None, asr=False)
    first, second = factory(config, sources, ()), factory(config, sources, ())
    assert first._channels is not None and first._channels.problems == ("loaded by the fake",)
    assert second._channels is None  # a restart loads its own


def test_the_persons_are_set_up_by_the_preload_and_must_match_too(fake_load: Calls) -> None:
    """The face channel's persons are made on the loading thread (their matcher's imports off the pipeline's start);
    a pipeline with other ``[people]`` settings loads its own."""
    fake_load.release.set()
    config = AppConfig()
    preload = ChannelPreload.start(config.inference, config.people)
    assert preload.take(config.inference, people=replace(config.people, max_faces=2)) is None
    assert preload.take(config.inference, people=config.people) is not None
    assert fake_load.people == config.people
