"""``summary.csv`` of a batch: one row per input with its status, time share per emotion and mean valence/arousal;
``people.csv``: one row per input and person seen (seconds in view, as primary, their face's top-class shares)."""

from __future__ import annotations

import csv
from pathlib import Path

from emolive.core.labels import EMOTIONS
from emolive.fusion.fuser import UNCERTAIN
from emolive.offline.job import JobResult
from emolive.recording.files import replaced_whole

SUMMARY_NAME = "summary.csv"
PEOPLE_NAME = "people.csv"


def summary_columns() -> list[str]:
    return ["file", "csv", "status", "duration_s", "media_s", *(f"share_{e}" for e in (*EMOTIONS, UNCERTAIN)),
            "mean_valence", "mean_arousal", "error"]


def write_summary(path: Path, results: list[JobResult]) -> None:
    """Write ``path`` whole (never half a file, no ``.tmp`` left when the disk is full); OSError when it cannot."""
    columns = summary_columns()
    with replaced_whole(path, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for r in results:
            s = r.summary
            shares = s.get("time_share", {})
            writer.writerow([r.file, r.csv if r.status != "failed" else "", r.status, round(r.duration_s, 3),
                             s.get("media_s", ""),
                             *(shares.get(c[len("share_"):], "") for c in columns if c.startswith("share_")),
                             s.get("mean_valence", ""), s.get("mean_arousal", ""), " ".join(r.error.split())])


def people_columns() -> list[str]:
    return ["file", "person_id", "person", "seconds", "primary_s", *(f"face_share_{e}" for e in EMOTIONS)]


def write_people(path: Path, results: list[JobResult]) -> None:
    """Write ``path`` whole: each input's persons (``AnalysisSummary``'s ``people``); none: the header only."""
    with replaced_whole(path, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(people_columns())
        for r in results:
            for person in r.summary.get("people", []) if r.status != "failed" else []:
                shares = person.get("face_share", {})
                writer.writerow([r.file, person["person_id"], " ".join(str(person["person"]).split()),
                                 person["seconds"], person["primary_s"], *(shares.get(e, "") for e in EMOTIONS)])
