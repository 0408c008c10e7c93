"""ChannelPreload: the window's first pipeline takes the models loaded beside the window's set-up, once; the face
first, the voice and text channels after the first estimate."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from emolive.config import AppConfig, InferenceConfig
from emolive.runtime import channels as channels_module
from emolive.runtime.channels import Channels
from emolive.runtime.preload import LATER, ChannelPreload, LaterChannels


class Calls(list):
    """The fake loader's calls (the kinds asked for, strict, people, import_solver); the face finishes once
    ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()


@pytest.fixture
def fake_load(monkeypatch: pytest.MonkeyPatch) -> Calls:
    calls = Calls()

    def load_channels(config: InferenceConfig, face: bool = True, voice: bool = True, text: bool = True,
                      strict: bool = True, people: object = None, import_solver: bool = True,
                      **_: object) -> Channels:
        kinds = tuple(kind for kind, wanted in (("face", face), ("voice", voice), ("text", text)) if wanted)
        if face:
            calls.release.wait(5)
        calls.append((kinds, strict, people, import_solver))
        return Channels(**{kind: f"the {kind} channel" for kind in kinds}, problems=(f"{kinds[0]} by the fake",))

    monkeypatch.setattr(channels_module, "load_channels", load_channels)
    return calls


def test_take_waits_for_all_three_channels_and_later_takes_get_none(fake_load: Calls) -> None:
    config = InferenceConfig()
    preload = ChannelPreload.start(config)
    threading.Timer(0.05, fake_load.release.set).start()
    channels = preload.take(config)
    assert channels is not None
    assert (channels.face, channels.voice, channels.text) == ("the face channel", "the voice channel",
                                                              "the text channel")
    assert channels.problems == ("face by the fake", "voice by the fake", "text by the fake")
    # one channel after the other, the face first; not strict: the window starts without a model that cannot load
    assert [(kinds, strict) for kinds, strict, _, _ in fake_load] == [(("face",), False), (("voice",), False),
                                                                      (("text",), False)]
    assert preload.take(config) is None


def test_the_face_comes_first_and_the_voice_and_text_load_after_the_first_estimate(fake_load: Calls) -> None:
    fake_load.release.set()
    config = InferenceConfig()
    preload = ChannelPreload.start(config)
    staged = preload.take_staged(config)
    assert staged is not None
    face, later = staged
    assert face.face == "the face channel" and face.voice is None and face.text is None
    assert later.loading == LATER and not later.released.is_set()  # nothing estimated yet: they wait
    assert [kinds for kinds, *_ in fake_load] == [("face",)]
    arrived: list[tuple[str, object]] = []
    later.subscribe(lambda kind, channels: arrived.append((kind, getattr(channels, kind))))
    later.on_estimate(object())  # as a pipeline sink: the first estimate lets them load
    assert later.wait(10)
    assert arrived == [("voice", "the voice channel"), ("text", "the text channel")] and later.loading == ()
    assert preload.take_staged(config) is None


def test_other_settings_or_a_failed_load_get_none(fake_load: Calls, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_load.release.set()
    preload = ChannelPreload.start(InferenceConfig())
    assert preload.take(replace(InferenceConfig(), face_detect_every=3)) is None
    assert preload.take(InferenceConfig()) is not None  # still there for its own settings

    def broken(*_: object, **__: object) -> Channels:
        raise RuntimeError("no models here")

    monkeypatch.setattr(channels_module, "load_channels", broken)
    assert ChannelPreload.start(InferenceConfig()).take(InferenceConfig()) is None


def test_a_later_load_that_breaks_arrives_as_problems(fake_load: Calls, monkeypatch: pytest.MonkeyPatch) -> None:
    """The voice's loading raising (not a model problem the loader reports) still ends the loading: each kind
    not loaded arrives without its channel, with one sentence for the window."""
    fake_load.release.set()
    face_only = channels_module.load_channels

    def voice_breaks(config: InferenceConfig, face: bool = True, **kwargs: object) -> Channels:
        if not face:
            raise RuntimeError("Whisper exploded")
        return face_only(config, face=face, **kwargs)

    monkeypatch.setattr(channels_module, "load_channels", voice_breaks)
    config = InferenceConfig()
    staged = ChannelPreload.start(config).take_staged(config)
    assert staged is not None
    _, later = staged
    later.release()
    assert later.wait(10)
    arrived: list[tuple[str, object, tuple[str, ...]]] = []
    later.subscribe(lambda kind, channels: arrived.append((kind, getattr(channels, kind), channels.problems)))
    assert arrived == [("voice", None, ("voice channel unavailable: Whisper exploded",)),
                       ("text", None, ("text channel unavailable: Whisper exploded",))]


def test_later_channels_arrive_once_each() -> None:
    later = LaterChannels(("voice",))
    seen: list[str] = []
    later.arrive("voice", Channels(voice="first"))
    later.arrive("voice", Channels(voice="second"))
    later.arrive("text", Channels(text="not expected"))
    later.subscribe(lambda kind, channels: seen.append(channels.voice))
    assert seen == ["first"] and later.wait(0) and later.loading == ()


def test_the_window_factory_hands_the_preloaded_channels_to_the_first_pipeline(fake_load: Calls) -> None:
    pytest.importorskip("PySide6")
    from emolive.gui.app import preloaded_pipeline
    from emolive.gui.interfaces import Sources

    fake_load.release.set()
    config = AppConfig()
    factory = preloaded_pipeline(ChannelPreload.start(config.inference, config.people))  # as `emolive run` does
    sources = Sources(camera=None, microphone=None, asr=False)
    first, second = factory(config, sources, ()), factory(config, sources, ())
    assert first._channels is not None and first._channels.face == "the face channel"
    assert first._later is not None and first.status().loading == LATER
    assert second._channels is None and second._later is None  # a restart loads its own


def test_the_persons_are_set_up_with_the_face_and_must_match_too(fake_load: Calls) -> None:
    """The face channel's persons are made on the loading thread, their solver for two faces imported after the
    voice and text; a pipeline with other ``[people]`` settings loads its own."""
    fake_load.release.set()
    config = AppConfig()
    preload = ChannelPreload.start(config.inference, config.people)
    assert preload.take(config.inference, people=replace(config.people, max_faces=2)) is None
    assert preload.take(config.inference, people=config.people) is not None
    assert fake_load[0] == (("face",), False, config.people, False)
