#!/usr/bin/env bash
# Add emolive to the desktop's application menu for the current user (freedesktop.org menus: GNOME, KDE, ...).
# Usage: bash install_desktop.sh [APP_DIR]   APP_DIR: the built folder holding the `emolive` program
#        (default: this script's folder when it sits in the build, else ../dist/emolive).
# Undo: rm ~/.local/share/applications/emolive.desktop ~/.local/share/icons/hicolor/*/apps/emolive.*
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -ge 1 ]; then app=$1; elif [ -x "$here/emolive" ]; then app=$here; else app=$here/../dist/emolive; fi
app=$(cd "$app" && pwd)
[ -x "$app/emolive" ] || { echo "install_desktop: no emolive program in $app" >&2; exit 1; }

data=${XDG_DATA_HOME:-$HOME/.local/share}
mkdir -p "$data/applications" "$data/icons/hicolor/256x256/apps" "$data/icons/hicolor/scalable/apps"
cp "$here/emolive.png" "$data/icons/hicolor/256x256/apps/emolive.png"
cp "$here/emolive.svg" "$data/icons/hicolor/scalable/apps/emolive.svg"
# The menu entry starts the program by its absolute path, so it need not be on PATH.
sed -e "s|^Exec=emolive|Exec=\"$app/emolive\"|" -e "s|^TryExec=emolive|TryExec=$app/emolive|" \
  "$here/emolive.desktop" > "$data/applications/emolive.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$data/applications" || true
echo "install_desktop: added $data/applications/emolive.desktop (runs $app/emolive)"
