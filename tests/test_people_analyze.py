"""Several people in `emolive analyze` (#40): per-person time in view and face shares in the summary, the batch's
people.csv, the long-format rows of a two-face clip, and the demo clip with people on equal to people off."""

from __future__ import annotations

import csv
from dataclasses import replace

import pytest
from helpers.media import mux_video
from test_people_channel import channel, frame, script

from emolive.config import AppConfig, PeopleConfig
from emolive.offline.analysis import analyze_file
from emolive.offline.job import JobResult
from emolive.offline.summary import people_columns, write_people
from emolive.recording import schema
from emolive.runtime.channels import Channels

FPS = 10


def two_face_clip(path):
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height = 640, 480
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 4_000_000
        frames = [frame(faces, i / FPS, i).image[:, :, ::-1] for i, faces in enumerate(script(3.0))]
        mux_video(container, stream, frames, FPS)
    return path


def test_analyze_gives_each_person_their_time_and_the_long_format_rows(tmp_path):
    clip = two_face_clip(tmp_path / "two.mp4")
    config = replace(AppConfig(), inference=replace(AppConfig().inference, hop_s=0.1, smoothing_s=0.0))
    rows = []
    summary = analyze_file(clip, config, asr=False, channels=Channels(face=channel()),
                           on_estimate=lambda e: rows.extend(schema.rows(e)))
    people = {p["person_id"]: p for p in summary.as_dict()["people"]}
    assert sorted(people) == [1, 2]
    # a (person 1 or 2) is in view 1 s + 1 s, b all 5 s; each step is 0.1 s
    a, b = sorted(people.values(), key=lambda p: p["seconds"])
    assert a["seconds"] == pytest.approx(2.0, abs=0.35) and b["seconds"] == pytest.approx(5.0, abs=0.35)
    assert a["primary_s"] + b["primary_s"] == pytest.approx(summary.steps * 0.1, abs=0.35)
    assert sum(b["face_share"].values()) == pytest.approx(1.0, abs=1e-3)
    column = {name: i for i, name in enumerate(schema.header())}
    by_t: dict[float, list] = {}
    for cells in rows:
        by_t.setdefault(cells[0], []).append(cells)
    two = [group for group in by_t.values() if len(group) == 2]
    assert len(two) >= 15 and max(len(g) for g in by_t.values()) == 2
    for primary, other in two:
        assert primary[column["dominant"]] != "" and other[column["dominant"]] == ""
        assert {primary[column["person_id"]], other[column["person_id"]]} == {1, 2}


def test_the_batch_writes_each_persons_shares_to_people_csv(tmp_path):
    shares = {"neutral": 0.5, "joy": 0.5}
    done = JobResult("a.mp4", "a.csv", "done", 3.0, summary={"people": [
        {"person_id": 1, "person": "Ada\nL", "seconds": 2.5, "primary_s": 2.0, "face_share": shares},
        {"person_id": 2, "person": "person 2", "seconds": 1.0, "primary_s": 0.5, "face_share": shares}]})
    failed = JobResult("b.mp4", "b.csv", "failed", 0.0, "broken")
    write_people(tmp_path / "people.csv", [done, failed])
    with (tmp_path / "people.csv").open() as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == people_columns() and len(lines) == 3
    assert lines[1][:5] == ["a.mp4", "1", "Ada L", "2.5", "2.0"] and lines[2][1] == "2"
    assert lines[1][people_columns().index("face_share_joy")] == "0.5"


@pytest.mark.slow
def test_the_demo_clip_with_people_on_equals_people_off_plus_the_person_columns(demo_clip):
    from emolive.face.people import identities_installed
    from emolive.runtime.channels import load_channels

    if not identities_installed():
        pytest.skip("the [people] extra (dlib) is not installed")
    config = replace(AppConfig(), inference=replace(AppConfig().inference, hop_s=0.5))
    results = {}
    for people in (None, PeopleConfig()):
        channels = load_channels(config.inference, people=people)
        rows = []
        analyze_file(demo_clip, config, asr=False, channels=channels,
                     on_estimate=lambda e, rows=rows: rows.extend(schema.rows(e)))
        if people is not None:
            channels.face.close_embedder()
        results[people is not None] = rows
    off, on = results[False], results[True]
    skip = {schema.header().index(c) for c in ("latency_ms", "person", "person_id")}
    assert len(off) == len(on) > 20
    for a, b in zip(off, on, strict=True):
        assert [c for i, c in enumerate(a) if i not in skip] == [c for i, c in enumerate(b) if i not in skip]
    person = schema.header().index("person")
    assert {r[person] for r in off} == {""}
    assert {r[person] for r in on if r[schema.header().index("face_present")]} == {"person 1"}
