"""Configuration from TOML with overrides, and the CLI's clean failures (message + non-zero exit)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from emolive.cli import main
from emolive.config import AppConfig, apply_overrides, load_config, save_config
from emolive.core.errors import ConfigError


def test_defaults_when_no_file_exists(tmp_path, monkeypatch):
    monkeypatch.setattr("emolive.config.default_config_path", lambda: tmp_path / "none.toml")
    assert load_config() == AppConfig()


def test_round_trip_and_overrides(tmp_path):
    config = apply_overrides(AppConfig(), ["inference.budget_ms=60", "capture.camera=/dev/video2",
                                           "asr.enabled=false", "asr.language=de"])
    assert config.inference.budget_ms == 60.0 and config.capture.camera == "/dev/video2"
    assert config.asr.enabled is False and config.asr.language == "de"
    path = save_config(config, tmp_path / "c.toml")
    assert load_config(path) == config
    assert load_config(path, ["inference.hop_s=0.2"]).inference.hop_s == 0.2


@pytest.mark.parametrize("text, message", [
    ("[inference\nbudget_ms = 3", "malformed"),
    ("[inference]\nbudget_ms = 'fast'", "must be float"),
    ("[inference]\nturbo = true", "unknown setting"),
    ("[gpu]\nx = 1", "unknown section"),
    ("inference = 3", "must be a table"),
])
def test_malformed_config_files_raise_config_error(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_bad_override_and_missing_explicit_file(tmp_path):
    with pytest.raises(ConfigError, match="section.key=value"):
        apply_overrides(AppConfig(), ["budget=3"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emolive", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, message", [
    (("analyze", "no/such/file.mp4", "--no-asr"), "file not found"),
    (("--config", "{bad}", "devices"), "config file"),
    (("bench", "--source", "missing.mp4", "--seconds", "1"), "file not found"),
])
def test_cli_bad_input_gives_message_and_exit_2_without_traceback(tmp_path, args, message):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[[")
    args = tuple(str(bad) if a == "{bad}" else a for a in args)
    result = run_cli("--config", args[1], "analyze", "x.mp4") if args[0] == "--config" else run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_corrupt_media_is_a_clean_error(tmp_path):
    corrupt = tmp_path / "clip.mp4"
    corrupt.write_bytes(b"\x00\x01garbage" * 1000)
    result = run_cli("analyze", str(corrupt), "--no-asr", "--no-progress")
    assert result.returncode == 2
    assert "cannot open" in result.stderr and "Traceback" not in result.stderr


def test_devices_says_plainly_when_there_are_none(capsys, monkeypatch):
    monkeypatch.setattr("emolive.commands.devices.list_cameras", lambda _: [])
    monkeypatch.setattr("emolive.commands.devices.list_microphones", lambda: ([], "no audio input device found"))
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "none found" in out and "no audio input device" in out


def test_version_and_help_work():
    assert run_cli("--version").stdout.startswith("emolive ")
    result = run_cli("--help")
    assert result.returncode == 0 and "analyze" in result.stdout


@pytest.mark.parametrize("setting, key", [
    ("inference.hop_s=0", "hop_s"), ("inference.hop_s=-0.1", "hop_s"), ("inference.voice_window_s=0", "voice_window_s"),
    ("inference.smoothing_s=-1", "smoothing_s"), ("inference.budget_ms=0", "budget_ms"),
    ("inference.threads=0", "threads"), ("inference.face_detect_every=0", "face_detect_every"),
    ("inference.voice_every=-2", "voice_every"), ("inference.text_max_age_s=0", "text_max_age_s"),
    ("capture.fps=0", "fps"), ("capture.width=-640", "width"), ("capture.audio_seconds=0", "audio_seconds"),
    ("capture.frame_ring=0", "frame_ring"), ("asr.interval_s=0", "interval_s"), ("asr.threads=0", "threads"),
    ("inference.device=tpu", "device"), ("inference.fusion=early", "fusion"), ("inference.threads=1.5", "threads"),
    ("inference.hop_s=nan", "hop_s"), ("inference.voice_window_s=60", "voice_window_s"),
])
def test_every_numeric_setting_is_range_checked_with_the_key_named(tmp_path, setting, key):
    dotted, value = setting.split("=")
    section, name = dotted.split(".")
    path = tmp_path / "c.toml"
    path.write_text(f"[{section}]\n{name} = {value if value[0].isdigit() or value[0] in '-n' else repr(value)}\n")
    with pytest.raises(ConfigError, match=key):
        load_config(path)
    with pytest.raises(ConfigError, match=key):
        apply_overrides(AppConfig(), [setting])


def test_every_numeric_setting_has_a_range():
    from dataclasses import fields

    for section in fields(AppConfig):
        for spec in fields(getattr(AppConfig(), section.name)):
            if isinstance(spec.default, int | float) and not isinstance(spec.default, bool):
                assert "range" in spec.metadata, f"{section.name}.{spec.name} has no range"


def test_analyze_with_zero_hop_exits_2_naming_the_key(demo_clip, tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text("[inference]\nhop_s = 0\n")
    out = tmp_path / "o.csv"
    result = run_cli("--config", str(bad), "analyze", str(demo_clip), "--no-asr", "--no-progress", "-o", str(out))
    assert result.returncode == 2, result.stderr
    assert "hop_s" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()
