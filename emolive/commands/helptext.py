"""Help text from module docstrings: a one-sentence summary for command lists, the full text as written."""

from __future__ import annotations

import argparse
import inspect
import re


def plain(text: str | None) -> str:
    """A docstring as help text: dedented, reST double backticks as single ones."""
    return inspect.cleandoc(text or "").replace("``", "`")


def summary(text: str | None, longest: int = 160) -> str | None:
    """The first sentence of a docstring's first paragraph (whole, however many lines it spans); a sentence
    longer than ``longest`` characters is cut at its first colon."""
    if not text:
        return None
    paragraph = " ".join(plain(text).split("\n\n", 1)[0].split())
    match = re.match(r"(.+?\.)(\s|$)", paragraph)
    sentence = match.group(1) if match else paragraph
    if len(sentence) > longest and ": " in sentence:
        sentence = sentence.split(": ", 1)[0]
    return sentence.rstrip(":")


def add_verbose(parser: argparse.ArgumentParser) -> None:
    """``-v`` after the command too (as the global option; counts add up)."""
    parser.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                        help="more logging (-vv for debug), as the global option")


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions keep their lines (examples stay on lines of their own); options are wrapped as usual."""


def plural(n: int, word: str) -> str:
    """``1 file``, ``2 files``."""
    return f"{n} {word}" + ("" if n == 1 else "s")
