"""Append-only files that never hold half a row on disk, files replaced whole, and readable messages for OS errors.

``RowFile`` is the one CSV row writer: live recordings (``session.csv``) and offline analyses (``OUT.partial``)
append their rows through it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

from emolive.core.errors import EmoliveError
from emolive.recording.schema import Cell, format_rows


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

    def __init__(self, path: Path, exclusive: bool = True, truncate: bool = False) -> None:
        self.path = Path(path)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
        if exclusive:
            flags |= os.O_EXCL
        if truncate:
            flags |= os.O_TRUNC
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


class RowFile:
    """CSV rows gathered with ``add`` and appended in whole batches by ``flush`` (an ``AppendFile``), so a killed
    process or a full disk leaves whole rows only. ``header`` is written first when the file is empty."""

    def __init__(self, path: Path, header: Sequence[str] | None = None, exclusive: bool = True,
                 truncate: bool = False) -> None:
        self.file = AppendFile(path, exclusive=exclusive, truncate=truncate)
        self.path = self.file.path
        self._pending: list[Sequence[Cell]] = []
        if header is not None and self.file.size == 0:
            try:
                self.file.append(format_rows([header]).encode("utf-8"))
            except OSError:
                self.file.close()
                raise

    @property
    def pending(self) -> int:
        """Rows added and not yet appended."""
        return len(self._pending)

    def add(self, cells: Sequence[Cell]) -> None:
        self._pending.append(cells)

    def flush(self) -> int:
        """Append the rows added so far as one batch; returns how many."""
        count = len(self._pending)
        if count:
            self.file.append(format_rows(self._pending).encode("utf-8"))
            self._pending.clear()
        return count

    def sync(self) -> None:
        self.file.sync()

    def close(self) -> None:
        self.file.close()


@contextlib.contextmanager
def replaced_whole(path: Path, newline: str | None = None, fsync: bool = False) -> Iterator[IO[str]]:
    """A text handle on ``PATH.tmp`` that replaces ``path`` when the block ends; on any error the temporary file
    is removed (a full disk leaves no 0-byte ``.tmp``) and the error goes on."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline=newline) as handle:
            yield handle
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def report_failure(on_error: Callable[[str], None], message: str) -> None:
    """Log ``message`` and hand it to ``on_error``; a failing callback is logged, never raised."""
    logger = logging.getLogger("emolive.recording")
    logger.error("%s", message)
    try:
        on_error(message)
    except Exception:
        logger.exception("on_error callback failed")
