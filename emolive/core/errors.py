"""User-facing errors: the CLI prints their message and exits non-zero, never a traceback."""

from __future__ import annotations

import re

_ERRNO = re.compile(r"\[Errno -?\d+\]\s*")


def plain_reason(exc: BaseException) -> str:
    """``exc``'s reason for a person: an OS/FFmpeg error's text without its ``[Errno N]`` code."""
    strerror = getattr(exc, "strerror", None)
    if isinstance(strerror, str) and strerror:
        return strerror
    return _ERRNO.sub("", str(exc)).strip() or type(exc).__name__


def not_a_file(path: object) -> str:
    """Why ``path`` cannot be read as a file: it is missing, or a folder, or something else."""
    from pathlib import Path

    path = Path(str(path))
    if path.is_dir():
        return f"{path} is a folder, not a file"
    if path.exists():
        return f"{path} is not a regular file"
    return f"file not found: {path}"


class EmoliveError(Exception):
    """An error whose message is meant for the user (bad input, missing device, missing model)."""

    exit_code: int = 2


class MediaError(EmoliveError):
    """A media file is missing, unreadable, corrupt or lacks the needed stream."""


class DeviceError(EmoliveError):
    """A camera or audio device is missing, busy or vanished."""


class ModelError(EmoliveError):
    """A model's weights or config are missing, corrupt or untrusted."""


class ConfigError(EmoliveError):
    """The configuration file or a command-line override is malformed."""
