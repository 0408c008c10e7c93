"""The `emolive` command line: the desktop app by default (`emolive`, or `emolive --video FILE` to replay a file as
if it were live; `emolive run --help` lists its options), plus analyze, bench, devices, eval, train, sessions,
replay and people."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import re
import sys
from collections.abc import Sequence

from emolive import __version__
from emolive.commands.helptext import Formatter, add_verbose, plain
from emolive.core.errors import EmoliveError

log = logging.getLogger(__name__)

_ERRNO = re.compile(r"\[Errno -?\d+\]\s*")  # OS/FFmpeg error codes mean nothing to a person

# name -> (module with configure(parser) and run(args) -> int, one-line help).
# Command modules import only argparse at module level, so `emolive --help` stays fast.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("emolive.commands.run", "open the desktop app (default when no command is given)"),
    "analyze": ("emolive.commands.analyze", "analyse video/audio files offline and write CSV"),
    "bench": ("emolive.commands.bench", "measure the live pipeline's latency"),
    "devices": ("emolive.commands.devices", "list cameras and microphones"),
    "eval": ("emolive.commands.evaluate", "evaluate a channel on a labelled data set"),
    "train": ("emolive.commands.train", "train or fine-tune a model (see `python -m training`)"),
    "sessions": ("emolive.commands.sessions", "list recorded sessions"),
    "people": ("emolive.commands.people", "list or forget the saved people (names kept with people.remember)"),
    "replay": ("emolive.commands.replay", "re-analyse a recorded session bundle"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; ``only``: just that command's options are set up (its module imported), the others
    are listed by name, so that a command does not pay for the others' imports (``eval`` imports every evaluation
    module, and with them scipy and the channels: about 1 s before the app's models could start loading)."""
    parser = argparse.ArgumentParser(prog="emolive", description=plain(__doc__), formatter_class=Formatter)
    parser.add_argument("--version", action="version", version=f"emolive {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    parser.add_argument("--config", help="configuration TOML (default: the user's config directory)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.available = set()
    for name, (module_name, help_text) in COMMANDS.items():
        if only is not None and name != only:
            if importlib.util.find_spec(module_name) is not None:
                sub.add_parser(name, help=help_text)  # named only: this run parses another command
                parser.available.add(name)
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # a command whose module is not part of this build
        child = sub.add_parser(name, help=help_text, description=plain(getattr(module, "__doc__", None)),
                               formatter_class=Formatter)
        module.configure(child)
        if name != "eval":  # eval's kinds take it after themselves
            add_verbose(child)
        if not any("--config" in action.option_strings for action in child._actions):
            # `emolive COMMAND --config FILE` works as well as `emolive --config FILE COMMAND`
            child.add_argument("--config", default=argparse.SUPPRESS, help="configuration TOML (as the global option)")
        child.set_defaults(_module=module_name)
        parser.available.add(name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    explicit = any(a in COMMANDS or a in ("-h", "--help", "--version") for a in argv)
    parser = build_parser(only=_command_of(argv, explicit))
    if "run" in parser.available and not explicit:
        lead = _leading_global_count(argv)
        argv = [*argv[:lead], "run", *argv[lead:]]
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(
        level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.config is not None:  # a named config file that is missing or malformed is an error for every command
            from emolive.config import load_config

            load_config(args.config)
        return int(importlib.import_module(args._module).run(args) or 0)
    except EmoliveError as exc:
        print(f"emolive: error: {_ERRNO.sub('', str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("emolive: interrupted", file=sys.stderr)
        return 130


def _command_of(argv: list[str], explicit: bool) -> str | None:
    """The command this command line runs ("run" when it names none), or None when the whole parser is needed
    (top-level help or version, or a command name that is not where a command goes)."""
    lead = _leading_global_count(argv)
    first = argv[lead] if lead < len(argv) else None
    if first in COMMANDS:
        return first
    return None if explicit else "run"


def _leading_global_count(argv: list[str]) -> int:
    """How many leading arguments are global options (so `emolive -v --video F` becomes `run`)."""
    i = 0
    while i < len(argv):
        if argv[i] in ("-v", "-vv", "--verbose"):
            i += 1
        elif argv[i] == "--config" and i + 1 < len(argv):
            i += 2
        elif argv[i].startswith("--config="):
            i += 1
        else:
            break
    return i


if __name__ == "__main__":
    sys.exit(main())
