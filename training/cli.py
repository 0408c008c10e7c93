"""Dispatch `python -m training KIND ...` (and `emolive train KIND ...`) to training.KIND.main(argv).

Options every trainer gets from here: ``--progress-json`` (JSON-lines progress on stdout, see
training.progress) and ``--hpo N`` (Optuna search first, see training.hpo).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from emolive.core.errors import EmoliveError

KINDS = ("face", "face_mix", "voice", "text", "fusion", "export")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in KINDS:
        print(f"usage: python -m training {{{','.join(KINDS)}}} [options]   (KIND --help for its options)")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        module = importlib.import_module(f"training.{argv[0]}")
    except ModuleNotFoundError as exc:
        print(f"training: the {argv[0]} trainer is not available: {exc}", file=sys.stderr)
        return 2
    from emolive.personal.trainer_protocol import split_flag
    from training.hpo import split_args
    from training.progress import JsonProgress

    as_json, rest = split_flag(argv[1:])
    reporter = JsonProgress(sys.stdout) if as_json and int(os.environ.get("RANK", "0")) == 0 else None
    try:
        hpo, rest = split_args(rest)
        with contextlib.redirect_stdout(sys.stderr) if reporter else contextlib.nullcontext():
            return _run(argv[0], module, rest, hpo, reporter)
    except EmoliveError as exc:
        print(f"training: error: {exc}", file=sys.stderr)
        if reporter is not None:
            reporter.error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        print("training: interrupted (the last finished epoch is in OUT/last.pt; run again to resume)",
              file=sys.stderr)
        return 130


def _write_reference(kind: str, folder: Path) -> None:
    """The trained folder's ``reference.json`` (outputs on a fixed input, checked whenever the folder loads)."""
    kind = kind.split("_")[0]  # e.g. face_mix trains a face model
    if kind not in ("face", "voice", "text") or not (folder / "config.json").is_file():
        return
    from emolive.runtime.selfcheck import write_folder_reference

    try:
        write_folder_reference(kind, folder)
    except (EmoliveError, ImportError, OSError) as exc:
        logging.getLogger(__name__).warning("no reference.json written for %s: %s", folder, exc)


def _run(kind: str, module, argv: list[str], hpo, reporter) -> int:
    """The trainer's main, wrapped in an Optuna search and/or JSON progress when asked for."""
    from training.common import FitHooks, fit_hooks

    hooks = reporter.hooks() if reporter is not None else FitHooks()
    if reporter is not None:
        reporter.start(kind)
    if hpo.trials:
        from training.hpo import search

        search(kind, module.main, argv, hpo, report=reporter.emit_fields if reporter else None, final_hooks=hooks)
        code = 0
    else:
        with fit_hooks(hooks):
            code = int(module.main(argv) or 0)
    if hooks.results and int(os.environ.get("RANK", "0")) == 0:
        from training.hpo import option_value
        from training.progress import write_report

        out = option_value(argv, "--out")  # the trainer's export folder (fit may have trained in a work folder)
        result = {**hooks.results[-1], **({"out": out} if out else {})}
        write_report(result, Path(result["out"]))
        _write_reference(kind, Path(result["out"]))
        if reporter is not None:
            reporter.done(result)
    return code
