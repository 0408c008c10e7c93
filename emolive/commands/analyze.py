"""Analyse video or audio files offline with the live pipeline and write one CSV row per step.

One file: FILE.emolive.csv next to it (or -o OUT.csv). Many (files, folders, globs): -o OUTDIR gets one CSV and
one sidecar JSON per input plus summary.csv; a bad file never stops the batch, files already done are skipped.
"""

from __future__ import annotations

import argparse
import glob
import json
import re
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE_DIR_OR_GLOB",
                        help="video or audio files, folders (searched recursively) or quoted globs")
    parser.add_argument("-o", "--output", type=Path,
                        help="CSV path (one input) or folder (several); default: FILE.emolive.csv next to each")
    parser.add_argument("--no-asr", action="store_true", help="skip transcription (no text channel)")
    parser.add_argument("--summary", action="store_true",
                        help="print per-emotion time share and mean valence/arousal")
    parser.add_argument("--json", action="store_true", help="print the summaries as JSON lines")
    parser.add_argument("--workers", type=int, default=None,
                        help="files analysed in parallel (processes; default 1); not with --cluster")
    parser.add_argument("--cluster", metavar="ADDRESS",
                        help="run the files on a Dask cluster: its scheduler's address (tcp://host:8786) or local:N "
                             "for N local worker processes (needs the [cluster] extra)")
    parser.add_argument("--resume", action="store_true",
                        help="continue OUT.partial from its last complete row (same models and settings)")
    parser.add_argument("--checkpoint-every", type=float, default=None, metavar="SECONDS",
                        help="media seconds between snapshots of the analysis state, from which --resume continues "
                             "without computing the start again (default 10; 0: none, --resume then recomputes)")
    parser.add_argument("--allow-partial", action="store_true",
                        help="accept a file that ends before its stated duration (truncated) instead of failing")
    parser.add_argument("--overwrite", action="store_true",
                        help="redo files whose CSV is already done (in a batch they are skipped otherwise)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a setting, e.g. --set inference.hop_s=0.2")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    parser.add_argument("--profile", action="store_true",
                        help="print CPU-seconds per media second by stage (decode, detection, face CNN, voice, "
                             "transcription, text, fusion, recording) and the process total; in --json as 'profile'")


def run(args: argparse.Namespace) -> int:
    from emolive.capture.media_file import probe_media
    from emolive.commands.helptext import plural
    from emolive.config import load_config
    from emolive.core.errors import EmoliveError
    from emolive.core.memory import limit_malloc_arenas
    from emolive.offline.inputs import expand_inputs, output_paths
    from emolive.offline.job import CHECKPOINT_EVERY_S, FileJob, JobResult
    from emolive.offline.runners import parse_cluster, run_batch

    limit_malloc_arenas()  # before the analysis threads allocate: a lower peak offline (see core.memory)
    config = load_config(args.config, args.set)  # a malformed config or override fails before any work
    if args.workers is not None and args.cluster:
        raise EmoliveError("--workers and --cluster do not go together: with --cluster the cluster's workers run "
                           "the files (local:N starts N of them)")
    if args.workers is not None and args.workers < 1:
        raise EmoliveError("--workers must be at least 1")
    cluster = parse_cluster(args.cluster) if args.cluster else None
    every = CHECKPOINT_EVERY_S if args.checkpoint_every is None else args.checkpoint_every
    if every < 0:
        raise EmoliveError("--checkpoint-every must be 0 (none) or a number of seconds")
    files, problems = expand_inputs(args.files)
    several = (len(args.files) > 1 or len(files) != 1 or bool(problems) or
               any(Path(f).is_dir() or not Path(f).exists() and glob.has_magic(f) for f in args.files))
    _check_output(args.output, several)
    batch = several or (args.output is not None and (args.output.is_dir() or args.output.suffix.lower() != ".csv"))
    if not batch:
        probe_media(files[0])  # one file: a bad one is an error (message, exit 2) before anything loads
    outs = output_paths(files, args.output, batch)
    jobs: list[FileJob] = []
    early: list[JobResult] = [JobResult(item, "", "failed", 0.0, message) for item, message in problems]
    for f, out in zip(files, outs, strict=True):
        try:
            info = probe_media(f)  # bad files are rejected here, before any model loads, with nothing written
        except EmoliveError as exc:
            early.append(JobResult(str(f), str(out), "failed", 0.0, str(exc)))
            continue
        jobs.append(FileJob(str(f), str(out), config,
                            asr=not args.no_asr, resume=args.resume, allow_partial=args.allow_partial,
                            overwrite=args.overwrite or not batch, progress=not args.no_progress,
                            duration_s=info.duration, checkpoint_every_s=every, profile=args.profile))
    for result in early:
        _report_failure(result)
    results = run_batch(jobs, workers=args.workers or 1, cluster=cluster, show_progress=not args.no_progress,
                        on_result=lambda r: _report_failure(r) if r.status == "failed" else None)
    results = early + results
    for result in results:
        _print_result(result, args)
    summary_error = _write_summary(args.output, results) if batch and args.output is not None else ""
    failed = [r for r in results if r.status == "failed"]
    if batch:
        counts = {s: sum(r.status == s for r in results) for s in ("done", "partial", "skipped", "failed")}
        print(f"{plural(len(results), 'file')}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
              + (f"; summary in {args.output / 'summary.csv'}" if args.output is not None and not summary_error
                 else ""))
        if failed:
            print("failed:", file=sys.stderr)
            for r in failed:
                print(f"  {_with_file(r)}", file=sys.stderr)
    if summary_error:
        print(f"emolive: error: {summary_error}", file=sys.stderr)
    return 1 if failed or summary_error else 0


def _check_output(output: Path | None, several: bool) -> None:
    """-o is a .csv file for one input, a folder for one or several: an output that fits neither is an error."""
    from emolive.core.errors import EmoliveError

    if output is None:
        return
    is_csv = output.suffix.lower() == ".csv"
    if output.exists() and not output.is_dir():
        if several:
            raise EmoliveError(f"{output} is a file: -o must be a folder when analysing several files")
        if not is_csv:
            raise EmoliveError(f"{output} is a file but not a .csv: -o takes a .csv file (one input) or a folder")
    elif not output.exists() and several and is_csv:
        raise EmoliveError(f"-o {output} names a .csv file, but a folder, a pattern or several files are analysed: "
                           "-o takes a folder then (one CSV per file and summary.csv)")


def _write_summary(folder: Path, results: list) -> str:
    """Write FOLDER/summary.csv and FOLDER/people.csv; the reason one could not be written, or ""."""
    from emolive.core.errors import plain_reason
    from emolive.offline.summary import PEOPLE_NAME, SUMMARY_NAME, write_people, write_summary

    for name, write in ((SUMMARY_NAME, write_summary), (PEOPLE_NAME, write_people)):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write(folder / name, results)
        except OSError as exc:
            return f"cannot write {folder / name}: {plain_reason(exc)}"
    return ""


def _with_file(result) -> str:
    """``FILE: error``, or the error alone when it names the file already."""
    if re.search(rf"(?<![\w/.-]){re.escape(result.file)}(?![\w/-])", result.error):
        return result.error
    return f"{result.file}: {result.error}"


def _report_failure(result) -> None:
    print(f"emolive: error: {_with_file(result)}", file=sys.stderr)


def _print_result(result, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(result.as_dict()))
        return
    s = result.summary
    if result.status == "failed":
        return
    if result.status == "skipped":
        print(f"{result.file}: skipped, already done -> {result.csv}")
        return
    note = " (ended early: partial)" if result.status == "partial" else ""
    print(f"{result.file}: {s['steps']} steps, {s['media_s']:.1f} s of media in {s['wall_s']:.1f} s "
          f"({_speed(s)}; models loaded in {s['load_s']:.1f} s){note} -> {result.csv}")
    if s.get("profile"):
        from emolive.runtime.profiling import format_table

        print(format_table(s["profile"]))
    if args.summary:
        shares = sorted(s["time_share"].items(), key=lambda kv: -kv[1])
        print("  time share: " + ", ".join(f"{k} {v:.0%}" for k, v in shares if v > 0))
        print(f"  mean valence {s['mean_valence']:.3f}, mean arousal {s['mean_arousal']:.3f}")
        for person in s.get("people", []):
            faces = sorted(person["face_share"].items(), key=lambda kv: -kv[1])
            print(f"  {person['person']}: {person['seconds']:.1f} s in view ({person['primary_s']:.1f} s primary), "
                  "face: " + ", ".join(f"{k} {v:.0%}" for k, v in faces if v > 0))
        if s.get("transcript"):
            import textwrap

            print(textwrap.fill(s["transcript"], width=100, initial_indent="  transcript: ",
                                subsequent_indent="    ", break_long_words=False))


def _speed(s: dict) -> str:
    """x real time; a run resumed from a snapshot says so, its speed counting only what it computed."""
    start = s.get("resumed_from_s")
    if start is None:
        again = "resumed, the start computed again: " if s.get("resumed") else ""
        return f"{again}{s['speed_x_realtime']:.2f}x real time"
    return (f"resumed at {start:.1f} s: {s['media_s'] - start:.1f} s computed at {s['speed_x_realtime']:.2f}x "
            "real time")
