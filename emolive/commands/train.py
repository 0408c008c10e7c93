"""Train or fine-tune a model: `emolive train KIND [options]` (same as `python -m training KIND`).

The trainers live in the source checkout's ``training`` package, which imports emolive, never the other way:
this command runs them as a child process, as the Fine-tune dialog does.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys

from emolive.core.errors import EmoliveError
from emolive.personal.trainer_protocol import source_root


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=("face", "face_mix", "voice", "text", "fusion"),
                        help="which model (face_mix: the face model on FER2013 together with web photos)")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="options of that trainer (KIND --help)")


def run(args: argparse.Namespace) -> int:
    root = source_root()
    env = dict(os.environ)
    if root is not None:  # `-m training` resolves from any working directory; relative paths stay the user's
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    elif importlib.util.find_spec("training") is None:
        raise EmoliveError("training needs the `training` package, which comes with a source checkout of emolive")
    command = [sys.executable, "-m", "training", args.kind, *args.options]
    if any(option in ("-h", "--help") for option in args.options):
        shown = subprocess.run(command, env=env, capture_output=True, text=True)
        sys.stdout.write(as_emolive(shown.stdout))
        sys.stderr.write(as_emolive(shown.stderr))
        return shown.returncode
    child = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True, bufsize=1)
    try:
        assert child.stderr is not None
        for line in child.stderr:  # the trainer's usage and error lines name this command, not its module
            sys.stderr.write(as_emolive(line))
    except KeyboardInterrupt:  # the trainer got it too: let it save its last epoch and end
        pass
    return child.wait()


def as_emolive(text: str) -> str:
    """Trainer output with ``python -m training KIND`` said as ``emolive train KIND`` (usage and error lines)."""
    return re.sub(r"(?m)^(usage: |)python -m training ", r"\1emolive train ", text)
