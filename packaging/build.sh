#!/usr/bin/env bash
# Build the desktop app as one folder, dist/emolive/ (start it with dist/emolive/emolive), with PyInstaller.
# Usage: bash packaging/build.sh [extra PyInstaller options, e.g. --clean]
#
# Needs a set-up checkout (bash packaging/setup.sh --runtime --no-demo for the torch-free build). The only network access is the pip install of
# PyInstaller when .venv lacks it; the build reads local files only, and the built app needs no network and no
# Python. Then check it with: bash packaging/smoke_test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# From the run-time environment (no torch: ONNX Runtime serves the models) when there is one, else from .venv
# (then torch and the trainers are bundled too, about 5 GB).
VENV=${EMOLIVE_BUILD_VENV:-$( [ -x .venv-runtime/bin/python ] && echo .venv-runtime || echo .venv )}
PY=$VENV/bin/python
[ -x "$PY" ] || { echo "build: no $VENV here; run: bash packaging/setup.sh --runtime --no-demo" >&2; exit 1; }
echo "build: from $VENV"
if ! "$PY" -c 'import PyInstaller' >/dev/null 2>&1; then
  echo "build: installing PyInstaller into $VENV (from PyPI)"
  "$PY" -m pip install -q --disable-pip-version-check 'pyinstaller>=6'
fi
echo "build: PyInstaller $("$PY" -m PyInstaller --version), $("$PY" --version)"

started=$(date +%s)
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$PY" -m PyInstaller --noconfirm --log-level WARN \
  --distpath dist --workpath build/pyinstaller "$@" packaging/emolive.spec

# The desktop entry, its icon and their installer sit next to the program.
cp packaging/emolive.desktop packaging/emolive.png packaging/emolive.svg packaging/install_desktop.sh dist/emolive/
echo "build: dist/emolive in $(( $(date +%s) - started )) s, $(du -sh dist/emolive | cut -f1)" \
  "(start: dist/emolive/emolive; menu entry: bash dist/emolive/install_desktop.sh)"
