"""Every relative link in the repository's Markdown files (README, docs/, model cards) points at a file that exists,
and a link to a heading of a Markdown file points at a heading that exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIPPED_DIRS = {".git", ".venv", ".venv-runtime", "build", "dist", "out", "node_modules", ".ruff_cache",
                ".pytest_cache"}
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def markdown_files(root: Path) -> list[Path]:
    """The Markdown files under ``root``, outside virtual environments, build outputs and caches."""
    return sorted(path for path in root.rglob("*.md")
                  if not any(part in SKIPPED_DIRS or part.endswith(".egg-info")
                             for part in path.relative_to(root).parts[:-1]))


def prose(text: str) -> str:
    """``text`` without fenced code blocks and code spans, where brackets are code, not links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings (a repeated heading gets -1, -2, ... as on GitHub)."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(heading)
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def dead_links(root: Path) -> list[str]:
    """``FILE: TARGET`` for every relative link under ``root`` whose file (or heading) does not exist."""
    dead = []
    for path in markdown_files(root):
        for target in LINK.findall(prose(path.read_text(encoding="utf-8"))):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
                continue  # http:, https:, mailto: ...: not a file of the repository
            name, _, anchor = target.partition("#")
            linked = (path.parent / name).resolve() if name else path
            if not linked.exists() or root.resolve() not in (linked, *linked.parents):
                dead.append(f"{path.relative_to(root)}: {target}")
            elif anchor and linked.suffix == ".md" and anchor.lower() not in anchors(linked):
                dead.append(f"{path.relative_to(root)}: {target} (no such heading)")
    return dead


def test_every_relative_link_resolves() -> None:
    files = markdown_files(ROOT)
    assert ROOT / "README.md" in files and ROOT / "docs" / "architecture.md" in files
    assert dead_links(ROOT) == []


def test_a_dead_link_is_found(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n## Two words, here\n")
    (tmp_path / "README.md").write_text(
        "![shot](docs/shot.png) [a](docs/a.md) [b](docs/b.md) [web](https://example.org/x.md)\n"
        "[heading](docs/a.md#two-words-here) [gone](docs/a.md#three) [self](#top) `[code](nowhere.md)`\n"
        "```\n[fenced](nowhere.md)\n```\n# Top\n[up](../outside.md)\n")
    assert dead_links(tmp_path) == ["README.md: docs/shot.png", "README.md: docs/b.md",
                                    "README.md: docs/a.md#three (no such heading)", "README.md: ../outside.md"]


def test_repeated_headings_get_numbered_anchors(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("# Latency\n## Latency\n### `code` and [a link](x.md)!\n")
    assert anchors(page) == {"latency", "latency-1", "code-and-a-link"}
