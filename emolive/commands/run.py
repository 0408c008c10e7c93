"""Open the desktop app: live camera + microphone, or a video file replayed as if it were live."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    source = parser.add_argument_group("sources")
    source.add_argument("--video", type=Path, metavar="FILE",
                        help="replay a video/audio file as if it were live (instead of camera and microphone)")
    source.add_argument("--loop", action="store_true", help="with --video: start the file again when it ends")
    source.add_argument("--camera", metavar="ID", help="camera index or device path (default: from the settings)")
    source.add_argument("--mic", metavar="ID", help="microphone index or part of its name (default: from the settings)")
    source.add_argument("--no-camera", action="store_true", help="open no camera")
    source.add_argument("--no-mic", action="store_true", help="open no microphone")
    source.add_argument("--no-asr", action="store_true", help="do not transcribe speech (no text channel)")
    add_output_arguments(parser)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a setting for this run (repeatable), e.g. inference.device=cpu")
    parser.add_argument("--measure-stalls", type=float, metavar="SECONDS",
                        help="once running, measure event-loop stalls for SECONDS, print p50/p95/max as JSON, quit")
    # Hidden helpers for documentation and smoke tests.
    parser.add_argument("--screenshot", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--after", type=float, default=8.0, help=argparse.SUPPRESS)
    parser.add_argument("--quit-after", type=float, help=argparse.SUPPRESS)


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """The live outputs' switches (docs/outputs.md); they override the ``[outputs]`` settings for this run."""
    out = parser.add_argument_group("live outputs (docs/outputs.md)")
    out.add_argument("--lsl", action="store_true", help="stream the estimates and markers to the Lab Streaming Layer")
    out.add_argument("--lsl-markers", metavar="NAME", help="write the markers of this LSL stream (name or type, e.g. "
                                                           "PsychoPy's) into the recording")
    out.add_argument("--overlay", action="store_true",
                     help="serve the WebSocket and the OBS overlay page (http://127.0.0.1:8765/overlay)")
    out.add_argument("--overlay-port", type=int, metavar="PORT", help="port of the WebSocket and overlay page")
    out.add_argument("--overlay-host", metavar="HOST",
                     help="listen on another interface than 127.0.0.1 (needs --overlay-token)")
    out.add_argument("--overlay-token", metavar="TOKEN", help="a token clients must give (?token=...)")


def outputs_from_args(args: argparse.Namespace, config):  # noqa: ANN001, ANN201 - AppConfig -> AppConfig
    """``config`` with the live-output switches of the command line applied (and checked: OutputError)."""
    from emolive.config import check_ranges, with_changes
    from emolive.outputs.hub import check_outputs

    changes = {key: value for key, value in (
        ("lsl", True if args.lsl else None), ("lsl_markers", args.lsl_markers),
        ("overlay", True if args.overlay or args.overlay_port or args.overlay_host else None),
        ("port", args.overlay_port), ("host", args.overlay_host), ("token", args.overlay_token)) if value is not None}
    config = check_ranges(with_changes(config, "outputs", **changes), "command line") if changes else config
    check_outputs(config.outputs)
    return config


def sources_from_args(args: argparse.Namespace, config):  # noqa: ANN001, ANN201 - AppConfig -> Sources
    """Sources for the window from the command line, falling back on the configuration."""
    from emolive.gui.interfaces import Sources

    camera = None if args.no_camera else (args.camera if args.camera is not None else config.capture.camera) or None
    microphone = None if args.no_mic else (args.mic if args.mic is not None else config.capture.microphone)
    return Sources(video=args.video, camera=camera, microphone=microphone,
                   asr=not args.no_asr and config.asr.enabled, loop=bool(getattr(args, "loop", False)))


def _load_or_ask(config_path: Path | None, overrides: tuple[str, ...]):  # noqa: ANN202 - AppConfig, persist
    """The configuration; when it cannot be used and a window can be seen, a dialog offers the defaults for this
    run (not saved over the file), opening the file, or quitting (the ConfigError then goes on: exit 2)."""
    from emolive.config import AppConfig, default_config_path, load_config
    from emolive.core.errors import ConfigError

    try:
        return load_config(config_path, overrides), True
    except ConfigError as exc:
        from emolive.gui.config_problem import DEFAULTS, ask_about_config, can_show_dialogs

        if not can_show_dialogs():
            raise
        if ask_about_config(str(exc), config_path or default_config_path()) != DEFAULTS:
            raise
        log.warning("%s; using the default settings for this run (not saved)", exc)
        return AppConfig(), False


def run(args: argparse.Namespace) -> int:
    from emolive.core.errors import EmoliveError

    config_path = Path(args.config) if getattr(args, "config", None) else None
    config, persist = _load_or_ask(config_path, tuple(args.set))
    config = outputs_from_args(args, config)
    if args.video is not None:
        from emolive.capture.media_file import probe_media

        probe_media(args.video)  # MediaError (a message, exit 2) before any window opens
    if args.measure_stalls is not None and args.measure_stalls <= 0:
        raise EmoliveError("--measure-stalls needs a positive number of seconds")
    from emolive.runtime.preload import ChannelPreload

    # the models (and the persons' set-up) load while Qt and the window are set up
    preload = ChannelPreload.start(config.inference, config.people)
    from emolive.gui.app import RunOptions, preloaded_pipeline, run_app

    options = RunOptions(screenshot=args.screenshot, after=args.after, measure_stalls=args.measure_stalls,
                         quit_after=args.quit_after)
    return run_app(config, sources_from_args(args, config), config_path=config_path, options=options,
                   factory=preloaded_pipeline(preload), persist=persist)
