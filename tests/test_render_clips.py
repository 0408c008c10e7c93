"""The clip renderer: labels line up with the audio (each segment plays the recording it names)."""

from __future__ import annotations

import csv
import wave

import numpy as np
import pytest

from training import render_clips

RATE = 16_000
# RAVDESS emotion codes used here and the tone each recording gets (distinct per file)
CODES = {"03": "joy", "05": "anger", "04": "sadness"}


def _write_wav(path, freq: float, seconds: float) -> None:
    t = np.arange(int(seconds * RATE)) / RATE
    pcm = (0.5 * np.sin(2 * np.pi * freq * t) * 32767).astype(np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(RATE)
        handle.writeframes(pcm.tobytes())


@pytest.fixture()
def sources(tmp_path):
    import cv2

    faces = tmp_path / "faces"
    for folder in ("happy", "angry", "sad"):
        (faces / folder).mkdir(parents=True)
        for i in range(4):
            cv2.imwrite(str(faces / folder / f"{folder}_{i}.png"), np.full((48, 48), 40 * i + 60, np.uint8))
    voices, tones = tmp_path / "rav", {}
    freq = 300.0
    for actor in (17, 18):
        for code in CODES:
            for statement in (1, 2):
                name = f"03-01-{code}-01-{statement:02d}-01-{actor}.wav"
                path = voices / f"Actor_{actor}" / name
                _write_wav(path, freq, 1.2 + 0.1 * statement)
                tones[name] = freq
                freq += 150.0
    return faces, voices, tones


def _peak_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / RATE)[spectrum.argmax()])


def test_each_segment_plays_the_recording_it_names(sources, tmp_path):
    from emolive.core.audio_io import load_audio
    from emolive.voice.data import parse_ravdess_name

    faces, voices, tones = sources
    out = tmp_path / "clips"
    assert render_clips.main(["--faces", str(faces), "--voices", str(voices), "--out", str(out),
                              "--clips", "2", "--per-class", "2", "--seed", "3"]) == 0
    seen_faces, seen_actors = [], []
    for k in (1, 2):
        with (out / f"clip_{k}.labels.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert list(rows[0])[:3] == ["start", "end", "emotion"] and len(rows) == 6
        audio = load_audio(out / f"clip_{k}.mp4")
        for row in rows:
            start, end = float(row["start"]), float(row["end"])
            piece = audio[int((start + 0.15) * RATE): int((end - 0.15) * RATE)]
            voice = row["voice"].rsplit("/", 1)[-1]
            assert abs(_peak_hz(piece) - tones[voice]) < 20, (k, row)
            name = parse_ravdess_name(voice)
            assert CODES[voice.split("-")[2]] == row["emotion"]  # the voice says the labelled emotion
            folder = row["face"].rsplit("/", 2)[-2]
            assert {"happy": "joy", "angry": "anger", "sad": "sadness"}[folder] == row["emotion"]
            seen_faces.append(row["face"])
            seen_actors.append((k, name.actor))
        assert float(rows[-1]["end"]) == pytest.approx(len(audio) / RATE, abs=0.1)
    assert len(set(seen_faces)) == len(seen_faces)  # no face shown twice, in either clip
    assert {a for k, a in seen_actors if k == 1}.isdisjoint({a for k, a in seen_actors if k == 2})


def test_same_seed_same_plan(sources):
    faces, voices, _ = sources
    f, v = render_clips._faces_by_class(faces), render_clips._voices(voices)
    assert render_clips.plan(f, v, 2, 2, seed=5) == render_clips.plan(f, v, 2, 2, seed=5)


def test_bad_folder_is_a_clear_error(tmp_path, capsys):
    assert render_clips.main(["--faces", str(tmp_path / "no"), "--voices", str(tmp_path), "--out",
                              str(tmp_path / "o")]) == 1
    assert "folder not found" in capsys.readouterr().err


def test_mood_clips_have_one_speaker_and_long_runs_of_one_class(sources):
    faces, voices, _ = sources
    f, v = render_clips._faces_by_class(faces), render_clips._voices(voices)
    actor_of = {path: actor for path, _, actor in v}
    plans = render_clips.plan_moods(f, v, clips=3, runs=1, per_run=3, seed=1)
    assert len(plans) == 3
    for segments in plans:
        assert len({actor_of[voice] for _, _, voice in segments}) == 1  # one speaker per clip
        assert len({emotion for emotion, _, _ in segments}) == 1 and len(segments) == 3  # one run of one class
    assert sorted(segments[0][0] for segments in plans) == ["anger", "joy", "sadness"]  # classes dealt evenly
    shown = [face for segments in plans for _, face, _ in segments]
    assert len(shown) == len(set(shown))  # no face twice
    two = render_clips.plan_moods(f, v, clips=1, runs=2, per_run=2, seed=0)[0]
    assert [e for e, _, _ in two][0] == [e for e, _, _ in two][1] != [e for e, _, _ in two][2]
