"""What a batch analyses and where each result goes: files, folders and globs expanded, output paths chosen."""

from __future__ import annotations

import glob
import hashlib
from collections.abc import Iterable
from pathlib import Path

from emolive.core.errors import EmoliveError

MEDIA_SUFFIXES = frozenset({
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg", ".ts", ".3gp",
    ".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".wma",
})


def expand_inputs(items: Iterable[str | Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files named, found in folders (recursively, media suffixes) or matched by globs, in order, once each.

    Returns (files, problems): a glob or folder that matches no media file is a problem, not an exception.
    """
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not found:
                problems.append((str(item), f"no media files in the folder {item}"))
            files += found
        elif not path.exists() and glob.has_magic(str(item)):
            found = sorted(Path(p) for p in glob.glob(str(item), recursive=True) if Path(p).is_file())
            if not found:
                problems.append((str(item), f"no files match {item}"))
            files += found
        else:
            files.append(path)
    seen: set[Path] = set()
    unique = []
    for f in files:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, problems


def output_paths(files: list[Path], output: Path | None, batch: bool) -> list[Path]:
    """Where each file's CSV goes: next to it, the given CSV (one file), or OUTDIR/NAME.emolive.csv."""
    if output is None:
        return [f.with_name(f.name + ".emolive.csv") for f in files]
    if not batch and output.suffix.lower() == ".csv":
        return [output]
    if output.exists() and not output.is_dir():
        raise EmoliveError(f"{output} must be a folder when analysing several files")
    names = [f.name for f in files]
    outs = []
    for f, name in zip(files, names, strict=True):
        if names.count(name) > 1:  # the same name in two folders: keep both apart
            name = f"{hashlib.sha1(str(f.resolve().parent).encode()).hexdigest()[:8]}_{name}"
        outs.append(output / (name + ".emolive.csv"))
    return outs
