"""Append-only files that never hold half a row on disk, and readable messages for OS errors."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Callable
from pathlib import Path

from emolive.core.errors import EmoliveError


class RecordingError(EmoliveError):
    """A recording cannot start or had to stop (full disk, read-only or vanished folder, ...)."""


def describe_os_error(exc: OSError, path: Path | str) -> str:
    """A one-line, user-facing reason for ``exc`` while writing ``path``."""
    reasons = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exhausted",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENOENT: "the folder does not exist (removed or unmounted?)",
        errno.ENOTDIR: "a path component is not a folder",
        errno.EIO: "input/output error (drive removed?)",
    }
    return f"{reasons.get(exc.errno, exc.strerror or str(exc))}: {path}"


class AppendFile:
    """A new file written with whole ``os.write`` calls, so a killed process leaves only whole batches.

    ``append`` writes one batch; if the OS accepts only part of it (disk full) the file is cut back to
    the last whole batch before the error is raised. ``sync`` fsyncs and notices a deleted file.
    """

    def __init__(self, path: Path, exclusive: bool = True) -> None:
        self.path = Path(path)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
        if exclusive:
            flags |= os.O_EXCL
        self._fd: int | None = os.open(self.path, flags, 0o644)
        self.size = os.fstat(self._fd).st_size

    def append(self, data: bytes) -> None:
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self.size)
            raise
        self.size += len(data)

    def sync(self) -> None:
        """fsync; raises FileNotFoundError when the file (or its folder) was deleted meanwhile."""
        if self._fd is None:
            return
        os.fsync(self._fd)
        if os.fstat(self._fd).st_nlink == 0:
            raise FileNotFoundError(errno.ENOENT, "file deleted while recording", str(self.path))

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def report_failure(on_error: Callable[[str], None], message: str) -> None:
    """Log ``message`` and hand it to ``on_error``; a failing callback is logged, never raised."""
    logger = logging.getLogger("emolive.recording")
    logger.error("%s", message)
    try:
        on_error(message)
    except Exception:
        logger.exception("on_error callback failed")
