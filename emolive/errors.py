"""User-facing errors: the CLI prints their message and exits non-zero, never a traceback."""

from __future__ import annotations


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
