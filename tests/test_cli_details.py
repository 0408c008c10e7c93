"""The command line's small print: --config anywhere, clear file messages, no raw error codes, whole rows."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys

import pytest

from emolive.cli import main


def run_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emolive", *args], capture_output=True, text=True, timeout=300,
                          **kwargs)


def test_config_is_accepted_after_the_command(tmp_path, capsys):
    bad = tmp_path / "c.toml"
    bad.write_text("[inference]\nhop_s = 0\n")
    assert main(["analyze", "--config", str(bad), "x.mp4"]) == 2
    assert "hop_s" in capsys.readouterr().err  # the file after the command was read, not rejected


def test_a_missing_config_file_is_an_error_for_every_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("emolive.commands.devices.list_cameras", lambda _: [])
    monkeypatch.setattr("emolive.commands.devices.list_microphones", lambda: ([], "none"))
    assert main(["--config", str(tmp_path / "missing.toml"), "devices"]) == 2
    assert "config file not found" in capsys.readouterr().err
    assert main(["--config", str(tmp_path), "devices"]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_a_folder_is_not_reported_as_file_not_found(tmp_path, capsys):
    # analyze takes folders (a batch of the media files inside); one without media is a failure, said plainly
    assert main(["analyze", str(tmp_path), "--no-asr", "--no-progress"]) != 0
    err = capsys.readouterr().err
    assert "no media files in the folder" in err and "not found" not in err
    from emolive.capture.media_file import probe_media
    from emolive.core.audio_io import load_audio
    from emolive.core.errors import MediaError

    for load in (load_audio, probe_media):
        with pytest.raises(MediaError, match="is a folder"):
            load(tmp_path)


def test_messages_carry_no_raw_error_codes(tmp_path):
    corrupt = tmp_path / "clip.mp4"
    corrupt.write_bytes(b"\x00\x01garbage" * 1000)
    result = run_cli("analyze", str(corrupt), "--no-asr", "--no-progress")
    assert result.returncode == 2 and "cannot open" in result.stderr
    assert "[Errno" not in result.stderr and "Traceback" not in result.stderr


def test_an_unwritable_output_names_the_users_file(demo_clip, tmp_path):
    result = run_cli("analyze", str(demo_clip), "--no-asr", "--no-progress", "-o", "/proc/x.csv")
    assert result.returncode == 2 and "/proc/x.csv" in result.stderr
    assert ".partial" not in result.stderr and "[Errno" not in result.stderr


def _small_disk() -> None:
    """In the child: the file-size limit stands in for a full disk (writes fail with EFBIG, no signal)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (8_000, 8_000))


def test_a_full_disk_leaves_only_whole_rows(demo_clip, tmp_path):
    out = tmp_path / "out.csv"
    result = run_cli("analyze", str(demo_clip), "--no-asr", "--no-progress", "-o", str(out),
                     preexec_fn=_small_disk)
    assert result.returncode == 2 and "cannot write" in result.stderr and str(out) in result.stderr
    partial = (tmp_path / "out.csv.partial").read_bytes()
    assert partial.endswith(b"\n")
    lines = partial.decode().splitlines()
    assert len(lines) > 2 and len({line.count(",") for line in lines}) == 1  # every row whole


def test_the_schema_states_the_frame_of_the_face_boxes(repo_root):
    import inspect

    from emolive.capture.media_file import MediaFileSource

    width = inspect.signature(MediaFileSource).parameters["max_width"].default
    doc = (repo_root / "docs" / "csv_schema.md").read_text()
    box_row = next(line for line in doc.splitlines() if "`box_x`" in line)
    assert "analysis frame" in box_row and f"{width} px wide" in box_row


@pytest.mark.slow
def test_bench_reports_the_pipelines_figures(capsys):
    """`emolive bench` on the synthetic source with the bundled models: the figures come from the real status()."""
    import json

    assert main(["bench", "--seconds", "2", "--no-asr", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["step_ms"]["p50"] > 0 and result["steps_per_s"] > 0 and result["errors"] == []
    assert isinstance(result["dropped"], int) and result["asr"] is False and result["asr_lag_s"] is None
    assert {"face", "fusion"} <= set(result["stages"]) and isinstance(result["degraded"], str)


@pytest.mark.slow
@pytest.mark.parametrize("when", ["measuring", "loading"])
def test_ctrl_c_stops_the_bench_and_its_threads(when, monkeypatch, capsys):
    """Ctrl+C while measuring reports the figures so far; while loading it stops there. Either way the pipeline's
    threads stop (a bench left running kept the process alive after the message) and the exit status is 130."""
    import json
    import threading
    import time

    from emolive.commands import bench

    def interrupted(seconds: float) -> bool:
        if when == "loading":
            raise KeyboardInterrupt
        time.sleep(1.0)
        return True

    monkeypatch.setattr(bench, "_measure", interrupted)
    before = {t.ident for t in threading.enumerate()}
    assert main(["bench", "--seconds", "30", "--no-asr", "--json"]) == 130
    out = capsys.readouterr()
    if when == "measuring":
        result = json.loads(out.out.strip().splitlines()[-1])
        assert result["interrupted"] is True and result["seconds"] < 5 and result["step_ms"]["p50"] > 0
    else:
        assert "interrupted" in out.err
    left = [t.name for t in threading.enumerate() if t.ident not in before and t.is_alive() and not t.daemon]
    assert left == []


def test_a_command_sets_up_only_its_own_options_and_imports_nothing_of_the_others() -> None:
    """`emolive run` does not import eval's modules (and their scipy) before the app's models can start loading."""
    import subprocess
    import sys

    probe = ("import sys\nfrom emolive.cli import build_parser, _command_of\n"
             "parser = build_parser(only=_command_of(['--video', 'x.mp4'], False))\n"
             "print(sorted(parser.available) == sorted(%r), 'emolive.evaluation.voice' in sys.modules, "
             "'scipy' in sys.modules)")
    from emolive.cli import COMMANDS, build_parser

    done = subprocess.run([sys.executable, "-c", probe % (list(COMMANDS),)], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.split() == ["True", "False", "False"], done.stderr[-2000:]
    full = build_parser()  # the whole parser still sets up every command (top-level help, tests)
    assert sorted(full.available) == sorted(COMMANDS)


def test_which_command_a_command_line_runs() -> None:
    from emolive.cli import _command_of

    assert _command_of([], False) == "run"
    assert _command_of(["-v", "--video", "a.mp4"], False) == "run"
    assert _command_of(["--config", "c.toml", "eval", "face"], True) == "eval"
    assert _command_of(["--help"], True) is None
