"""The import graph, read from the source: emolive's folders form layers that only import downwards, there are no
import circles, and emolive never imports the trainers."""

from __future__ import annotations

from pathlib import Path

from helpers.importgraph import cycles, import_graph, main

ROOT = Path(__file__).resolve().parents[1]
KNOWN_TRAINING_CIRCLES: list[list[str]] = []  # the trainers have none either

# emolive's parts, top to bottom: a module may import its own part or any part below it. Parts on one line stand
# side by side and never import each other. "emolive" is the package itself (its version).
LAYERS: list[tuple[str, ...]] = [
    ("__main__",),
    ("cli",),
    ("commands",),
    ("gui",),
    ("personal",),
    ("evaluation",),
    ("offline",),
    ("outputs",),
    ("runtime",),
    ("recording", "capture"),
    ("config",),
    ("face", "voice", "text", "fusion"),
    ("asr",),
    ("models",),
    ("core",),
    ("emolive",),
]


def part(module: str) -> str:
    """The part a module belongs to: the folder (or root module) right under the package."""
    names = module.split(".")
    return names[1] if len(names) > 1 else names[0]


def layering_breaches(graph: dict[str, set[str]], layers: list[tuple[str, ...]]) -> list[str]:
    """Every import that runs up a layer or sideways between two parts of one layer; a part in no layer is one too."""
    rank = {name: index for index, names in enumerate(layers) for name in names}
    breaches = []
    for module, imported in sorted(graph.items()):
        if part(module) not in rank:
            breaches.append(f"{module}: its part {part(module)!r} is in no layer")
            continue
        for target in sorted(imported):
            here, there = part(module), part(target)
            if here != there and rank.get(there, -1) <= rank[here]:
                breaches.append(f"{module} -> {target}")
    return breaches


def test_the_graph_and_its_circles_are_found(tmp_path) -> None:  # noqa: ANN001
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from . import c\n")
    (package / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import b\n")
    (package / "b.py").write_text("def f():\n    import pkg.a\n    from pkg.sub.c import name\n")
    (package / "sub" / "c.py").write_text("from .. import d\nname = 1\n")
    (package / "d.py").write_text("import os\n")
    graph = import_graph(package)
    assert graph["pkg.b"] == {"pkg.a", "pkg.sub.c"} and graph["pkg.sub"] == {"pkg.sub.c"}
    assert graph["pkg.sub.c"] == {"pkg.d"} and graph["pkg.a"] == {"pkg.b"} and graph["pkg.d"] == set()
    assert cycles(graph) == [["pkg.a", "pkg.b"]]
    assert cycles(import_graph(package, type_checking=False)) == []  # a.py only names b for the type checker
    assert main([str(package)]) == 1


def test_emolive_has_no_import_circles() -> None:
    graph = import_graph(ROOT / "emolive")
    assert len(graph) > 100 and "emolive.runtime.pipeline" in graph["emolive.gui.app"]
    assert cycles(graph) == []


def test_emolive_parts_import_only_downwards() -> None:
    assert layering_breaches(import_graph(ROOT / "emolive"), LAYERS) == []


def test_a_breach_of_the_layers_is_found() -> None:
    graph = {"emolive.core.clock": {"emolive.gui.app"}, "emolive.gui.app": {"emolive.core.clock"},
             "emolive.face.channel": {"emolive.voice.channel"}, "emolive.voice.channel": set(), "emolive.new.x": set()}
    assert layering_breaches(graph, LAYERS) == [
        "emolive.core.clock -> emolive.gui.app", "emolive.face.channel -> emolive.voice.channel",
        "emolive.new.x: its part 'new' is in no layer"]


def test_emolive_never_imports_training() -> None:
    graph = import_graph(ROOT / "emolive")
    own = set(graph)
    for path in (ROOT / "emolive").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import training" not in text and "from training" not in text, path
    assert all(name in own for names in graph.values() for name in names)


def test_training_circles_are_only_the_known_one() -> None:
    assert cycles(import_graph(ROOT / "training")) == KNOWN_TRAINING_CIRCLES
