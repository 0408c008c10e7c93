"""The versioned estimates CSV: header, rows, markers, tolerant reading."""

from __future__ import annotations

import csv

import pytest
from fakes import make_estimate

from emolive.core.errors import EmoliveError
from emolive.core.labels import EMOTIONS, SENTIMENTS
from emolive.recording import schema


def test_header_order_and_uniqueness():
    columns = schema.header()
    assert len(columns) == len(set(columns))
    assert columns[0] == "t" and columns[-2:] == ["person", "person_id"] and "agreement" in columns
    assert schema.header(1)[-1] == "marker" and columns[: len(schema.header(1))] == schema.header(1)
    assert columns[1:8] == [f"emo_{e}" for e in EMOTIONS]
    assert columns[8:11] == [f"sent_{s}" for s in SENTIMENTS]
    for modality in ("face", "voice", "text"):
        for part in ("present", "quality", "top", "weight"):
            assert f"{modality}_{part}" in columns
    for name in ("valence", "arousal", "dominant", "confidence", "box_x", "box_y", "box_w", "box_h",
                 "transcript", "latency_ms", "degraded"):
        assert name in columns
    assert schema.version_of(columns) == schema.SCHEMA_VERSION == 4
    assert schema.version_of(schema.header(1)) == 1  # version 1 files still read
    assert schema.version_of(schema.header(2)) == 2 and schema.header(2)[-1] == "text_arousal"
    assert schema.version_of(schema.header(3)) == 3 and schema.header(3)[-1] == "discounts"


def test_row_matches_header_and_values():
    estimate = make_estimate(1.23456789, level=0.2, transcript="hello,\n \"world\"")
    cells = dict(zip(schema.header(), schema.row(estimate), strict=True))
    assert cells["t"] == 1.2346
    assert cells["emo_joy"] == 0.6 and cells["dominant"] == "joy"
    assert cells["face_present"] == 1 and cells["face_top"] == "joy" and cells["face_weight"] == 1.0
    assert cells["voice_present"] == 0 and cells["voice_top"] == "" and cells["voice_quality"] == 0.0
    assert cells["text_present"] == 0 and cells["text_quality"] == ""  # no text output at all
    assert (cells["box_x"], cells["box_y"], cells["box_w"], cells["box_h"]) == (10, 20, 30, 40)
    assert cells["transcript"] == 'hello, "world"'  # one physical line
    assert cells["latency_ms"] == 20.5 and cells["marker"] == ""
    assert cells["agreement"] == ""  # fewer than two trusted channels


def test_agreement_column_is_written():
    import dataclasses

    estimate = dataclasses.replace(make_estimate(0.0), agreement=0.4242424)
    cells = dict(zip(schema.header(), schema.row(estimate), strict=True))
    assert cells["agreement"] == 0.424242


def test_discounts_column_round_trip(tmp_path):
    import dataclasses

    cut = dataclasses.replace(make_estimate(0.1), discounts=(("voice", "voice: disagrees 5 s"),
                                                             ("text", "words: unlike training")))
    path = tmp_path / "d.csv"
    path.write_text(schema.format_rows([schema.header(), schema.row(cut), schema.row(make_estimate(0.2))]))
    parsed = schema.read_csv(path)
    assert parsed[0]["discounts"] == "voice: disagrees 5 s; words: unlike training"
    assert parsed[1]["discounts"] == ""  # nothing cut: an empty text cell, not None


def test_row_without_face_leaves_box_empty():
    cells = dict(zip(schema.header(), schema.row(make_estimate(0.0, face=False)), strict=True))
    assert cells["face_present"] == 0 and cells["box_x"] == "" and cells["face_top"] == ""


def test_row_rejects_wrong_label_count():
    import dataclasses

    bad = dataclasses.replace(make_estimate(0.0), emotion=(1.0, 0.0))
    with pytest.raises(ValueError):
        schema.row(bad)


def test_marker_row_is_empty_but_time_and_label():
    cells = schema.marker_row(2.5, "laugh\nout loud")
    assert len(cells) == len(schema.header())
    m = schema.header().index("marker")
    assert cells[0] == 2.5 and cells[m] == "laugh out loud"
    assert all(c == "" for i, c in enumerate(cells) if i not in (0, m))


def test_read_csv_round_trip_and_truncated_last_line(tmp_path):
    path = tmp_path / "s.csv"
    rows = [schema.header(), schema.row(make_estimate(0.1)), schema.marker_row(0.15, "m"),
            schema.row(make_estimate(0.2, level=0.9))]
    text = schema.format_rows(rows)
    path.write_text(text + "0.3,0.1,0.2")  # a write cut short by a crash
    parsed = schema.read_csv(path)
    assert [r["t"] for r in parsed] == [0.1, 0.15, 0.2]
    assert parsed[1]["marker"] == "m" and parsed[1]["emo_neutral"] is None
    assert parsed[2]["dominant"] == "surprise" and parsed[0]["face_present"] == 1.0
    with path.open(newline="") as handle:  # any CSV reader gets the same rows
        assert len(list(csv.DictReader(handle))) == 4


def test_read_csv_errors(tmp_path):
    with pytest.raises(EmoliveError, match="not found"):
        schema.read_csv(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(EmoliveError, match="empty"):
        schema.read_csv(tmp_path / "empty.csv")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(EmoliveError, match="not an emolive estimates CSV"):
        schema.read_csv(tmp_path / "other.csv")
    damaged = schema.format_rows([schema.header(), ["1.0", "x"], schema.row(make_estimate(1.1))])
    (tmp_path / "damaged.csv").write_text(damaged)
    with pytest.raises(EmoliveError, match="damaged.csv:2"):
        schema.read_csv(tmp_path / "damaged.csv")


def test_replay_reads_a_version_1_recording_by_column_name(tmp_path):
    from emolive.recording.replay import read_trace

    columns = schema.header(1)
    row = [""] * len(columns)
    row[columns.index("t")] = "0.5"
    for i, c in enumerate(schema.emotion_columns()):
        row[columns.index(c)] = "1.0" if i == 1 else "0.0"
    row[columns.index("dominant")] = "joy"
    marked = [""] * len(columns)
    marked[columns.index("t")] = "0.7"
    marked[columns.index("marker")] = "laugh"
    path = tmp_path / "session.csv"
    path.write_text(schema.format_rows([columns, row, marked]))
    trace = read_trace(path)
    assert trace.t == [0.5] and trace.dominant == ["joy"] and trace.emotion[0][1] == 1.0
    assert trace.markers == [(0.7, "laugh")]


def test_a_marker_waits_for_the_estimates_before_it(tmp_path):
    """Rows stay in time order: a marker stamped 'now' goes after estimates of earlier steps that arrive later."""
    from emolive.recording.files import RowFile
    from emolive.recording.writer import RecordingWriter

    def row(t: float) -> list:
        cells = [""] * len(schema.header())
        cells[0] = t
        return cells

    csv_file = RowFile(tmp_path / "session.csv", header=schema.header())
    writer = RecordingWriter(tmp_path, csv_file, lambda: {}, lambda message: None)
    writer.start()
    writer.put_row(row(4.8))
    writer.put_marker(schema.marker_row(5.0, "clap"))
    writer.put_row(row(4.9))  # computed before the marker was pressed, delivered after it
    writer.put_row(row(5.1))
    writer.put_marker(schema.marker_row(9.0, "end"))  # no later row: written when the recording stops
    writer.finish({})
    times = [r["t"] for r in schema.read_csv(tmp_path / "session.csv")]
    assert times == [4.8, 4.9, 5.0, 5.1, 9.0]
