"""The long-format CSV (schema 4, #40): one row per scored person per step, the primary's row carrying the fused
estimate and the voice and words, the others only their face; who the row is about in `person` / `person_id`."""

from __future__ import annotations

import dataclasses
import io
import math

from fakes import make_estimate, probs

from emolive.core.contracts import FaceBox, ModalityOutput, PersonEstimate
from emolive.recording import schema
from emolive.recording.replay import read_trace

FUSED = ["dominant", "confidence", "valence", "arousal", "face_weight", "voice_present", "agreement",
         *schema.emotion_columns(), *schema.sentiment_columns()]


def two_people(t: float = 1.0):
    """An estimate with person 1 (primary, Ada) and person 2 in view; the voice is present."""
    base = make_estimate(t, transcript="hello there")
    ada = FaceBox(10, 20, 30, 40, track_id=3, person_id=1, person="Ada")
    other = FaceBox(200, 20, 25, 25, track_id=5, person_id=2, person="person 2")
    face_2 = ModalityOutput("face", t, True, emotion=probs("anger"), quality=0.7)
    voice = ModalityOutput("voice", t, True, emotion=probs("joy"), quality=0.9)
    people = (PersonEstimate(1, "Ada", ada, base.modality("face"), primary=True),
              PersonEstimate(2, "person 2", other, face_2))
    return dataclasses.replace(base, faces=(ada, other), people=people, agreement=0.5,
                               modalities=(base.modality("face"), voice))


def parsed(rows: list[list]) -> list[dict]:
    text = schema.format_rows([schema.header(), *rows])
    path = io.StringIO(text)
    import csv

    reader = csv.reader(path)
    columns = next(reader)
    return [{c: schema._parse(c, v) for c, v in zip(columns, cells, strict=True)} for cells in reader]


def test_two_people_give_two_rows_and_the_primary_carries_the_fused_columns():
    estimate = two_people()
    primary, other = parsed(schema.rows(estimate))
    assert primary["t"] == other["t"] == 1.0
    assert (primary["person"], primary["person_id"]) == ("Ada", 1.0)
    assert (other["person"], other["person_id"]) == ("person 2", 2.0)
    assert primary["transcript"] == "hello there" and other["transcript"] == ""
    assert primary["voice_present"] == 1 and primary["voice_top"] == "joy"
    for column in FUSED:
        assert primary[column] not in (None, ""), column
        assert other[column] in (None, ""), column
    assert other["face_present"] == 1 and other["face_top"] == "anger" and other["face_quality"] == 0.7
    assert (other["box_x"], other["box_w"]) == (200, 25)
    assert other["face_valence"] is not None and other["voice_valence"] is None
    assert schema.rows(estimate)[0] == schema.row(estimate)


def test_one_person_gives_one_row_equal_to_the_old_columns_plus_who():
    alone = make_estimate(2.0)
    box = dataclasses.replace(alone.faces[0], person_id=7, person="person 7")
    named = dataclasses.replace(alone, faces=(box,), people=(PersonEstimate(7, "person 7", box,
                                                                            alone.modality("face"), True),))
    (cells,) = schema.rows(named)
    old = schema.header(3)
    assert cells[:len(old)] == schema.row(alone)[:len(old)]
    assert cells[len(old):] == ["person 7", 7]


def test_an_empty_frame_writes_one_row_with_no_person():
    (cells,) = schema.rows(make_estimate(3.0, face=False))
    row = dict(zip(schema.header(), cells, strict=True))
    assert row["person"] == "" and row["person_id"] == "" and row["face_present"] == 0
    assert row["dominant"] != ""  # the fused estimate is still written


def test_names_stay_on_one_line_and_no_identity_embedding_is_written():
    estimate = two_people()
    box = dataclasses.replace(estimate.faces[0], person="Ada\nLovelace")
    estimate = dataclasses.replace(estimate, faces=(box, estimate.faces[1]))
    text = schema.format_rows(schema.rows(estimate))
    assert "Ada Lovelace" in text and text.count("\n") == 2
    for cells in schema.rows(estimate):
        assert len(cells) == len(schema.header())
        assert all(not isinstance(c, float) or math.isfinite(c) for c in cells)


def test_replay_reads_the_primary_rows_and_older_files(tmp_path):
    new = tmp_path / "new.csv"
    new.write_text(schema.format_rows([schema.header(), *schema.rows(two_people(0.1)),
                                       *schema.rows(two_people(0.2))]))
    trace = read_trace(new)
    assert trace.t == [0.1, 0.2]  # the other person's rows hold no fused estimate
    old = tmp_path / "old.csv"
    old.write_text(schema.format_rows([schema.header(3), schema.row(make_estimate(0.1))[:len(schema.header(3))]]))
    assert read_trace(old).t == [0.1] and schema.read_csv(old)[0]["t"] == 0.1


def test_a_session_listing_reads_the_times_of_older_and_long_format_csvs(tmp_path):
    from emolive.recording.listing import _first_and_last_t

    old = tmp_path / "old.csv"
    old.write_text(schema.format_rows([schema.header(3), *(schema.row(make_estimate(t))[:len(schema.header(3))]
                                                           for t in (0.1, 0.2, 0.3))]))
    new = tmp_path / "new.csv"
    new.write_text(schema.format_rows([schema.header(), *schema.rows(two_people(0.5)), *schema.rows(two_people(0.6))]))
    assert _first_and_last_t(old) == (0.1, 0.3) and _first_and_last_t(new) == (0.5, 0.6)


def test_resume_drops_the_last_steps_rows_that_a_kill_may_have_cut(tmp_path):
    from emolive.offline.resume import recover_partial

    partial = tmp_path / "out.csv.partial"
    body = schema.format_rows([schema.header(), *schema.rows(two_people(0.1)), *schema.rows(two_people(0.2))])
    partial.write_text(body[:-30])  # killed while writing the second person's row of the step at 0.2 s
    rows, last_t, kept = recover_partial(partial, schema.header())
    assert (rows, last_t) == (2, 0.1) and partial.stat().st_size == kept
    assert [r["t"] for r in schema.read_csv(partial)] == [0.1, 0.1]
