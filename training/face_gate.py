"""Compare candidate face models with the shipped one on the same validation folders, in one run:

    python -m training.face_gate --candidate OUT [OUT2 ...] --fer-val ../shared/data/fer2013/val --web-val WEB_VAL

The shipped model and every candidate go through `emolive eval face --crops --by-source` on the same images.
A candidate passes when, on FER2013 val, its accuracy is at least ``--fer-min`` (0.70) and its macro F1 at least
the shipped model's, and on the web validation split its neutral recall is at least ``--neutral-min`` (0.75), at
most ``--negative-max`` (0.15) of its neutral faces read as a negative emotion, and its macro F1 is at least the
shipped model's. Exit 0 when a candidate passes, 1 when none does.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emolive.core.errors import EmoliveError


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.face_gate", description=__doc__)
    p.add_argument("--candidate", type=Path, nargs="+", required=True, help="candidate face model folder(s)")
    p.add_argument("--shipped", type=Path, default=Path("assets/face"), help="the model to beat")
    p.add_argument("--fer-val", type=Path, required=True, help="FER2013 val image folder")
    p.add_argument("--web-val", type=Path, required=True, help="web validation split (training.face_mix --write-val)")
    p.add_argument("--fer-min", type=float, default=0.70)
    p.add_argument("--neutral-min", type=float, default=0.75)
    p.add_argument("--negative-max", type=float, default=0.15)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p.parse_args(list(argv))


def evaluate(model: Path, folders: Sequence[Path], threads: int) -> dict[str, Any]:
    """`emolive eval face` on ``folders`` (pooled and by source) as its JSON report."""
    from emolive.cli import main as cli

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = cli(["eval", "face", "--data", *map(str, folders), "--by-source", "--crops", "--no-peer",
                    "--model", str(model), "--threads", str(threads), "--json"])
    if code != 0:
        raise EmoliveError(f"eval face failed for {model} (exit {code})")
    return json.loads(buffer.getvalue().strip().splitlines()[-1])


def gate(candidate: dict[str, Any], shipped: dict[str, Any], args: argparse.Namespace) -> dict[str, bool]:
    """Each criterion -> passed (reports by source, keyed by the folders as given)."""
    fer, web = str(args.fer_val), str(args.web_val)
    c, s = candidate["sources"], shipped["sources"]
    return {
        f"fer accuracy >= {args.fer_min}": c[fer]["accuracy"] >= args.fer_min,
        "fer macro F1 >= shipped": c[fer]["macro_f1"] >= s[fer]["macro_f1"],
        f"web neutral recall >= {args.neutral_min}": (c[web]["per_class_recall"]["neutral"] or 0.0) >= args.neutral_min,
        f"web neutral read as negative <= {args.negative_max}": (c[web]["neutral_as_negative"] or 0.0)
        <= args.negative_max,
        "web macro F1 >= shipped": c[web]["macro_f1"] >= s[web]["macro_f1"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        folders = [args.fer_val, args.web_val]
        models = {"shipped": args.shipped, **{str(c): c for c in args.candidate}}
        reports = {name: evaluate(model, folders, args.threads) for name, model in models.items()}
    except EmoliveError as exc:
        print(f"face_gate: error: {exc}", file=sys.stderr)
        return 2
    checks = {str(c): gate(reports[str(c)], reports["shipped"], args) for c in args.candidate}
    passed = [name for name, c in checks.items() if all(c.values())]
    if args.json:
        print(json.dumps({"checks": checks, "passed": passed, "reports": reports}))
    else:
        for folder in map(str, folders):
            print(f"== {folder}")
            for name, report in reports.items():
                r = report["sources"][folder]
                recall = " ".join(f"{e[:4]} {'-' if v is None else f'{v:.3f}'}"
                                  for e, v in r["per_class_recall"].items())
                negative = r["neutral_as_negative"]
                print(f"{name} n {r['n']}  acc {r['accuracy']:.4f}  macro F1 {r['macro_f1']:.4f}  "
                      f"neutral->negative {'-' if negative is None else f'{negative:.3f}'}  recall: {recall}")
        for name, results in checks.items():
            print(f"== {name}: {'passes' if name in passed else 'does not pass'}")
            for check, ok in results.items():
                print(f"{'PASS' if ok else 'FAIL'}  {check}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
