#!/usr/bin/env bash
# Smoke test of the built app: runs it with a bare environment (no .venv, no PYTHONPATH, a fresh HOME, so the
# default settings), offscreen Qt and, where `unshare` may create one, no network at all. Checks the CLI, the
# trainer entry the Fine-tune dialog uses, `analyze` on the demo clip (CSV + summary), and the GUI replaying it.
# Usage: bash packaging/smoke_test.sh [APP_DIR]   (default: dist/emolive; build it with packaging/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

APP=$(realpath "${1:-dist/emolive}")
BIN=$APP/emolive
DEMO=$(realpath assets/demo/demo.mp4)
[ -x "$BIN" ] || { echo "smoke: no program at $BIN (bash packaging/build.sh first)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/emolive-smoke.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/home" "$WORK/run"
chmod 700 "$WORK/run"

NONET=()
if unshare -n true 2>/dev/null; then NONET=(unshare -n); elif unshare -rn true 2>/dev/null; then NONET=(unshare -rn); fi
echo "smoke: $BIN ($(du -sh "$APP" | cut -f1)); network: ${NONET[*]:-"not isolated (unshare refused)"}"

app() {  # the built program in a bare environment, from an unrelated working directory
  (cd "$WORK" && env -i PATH=/usr/bin:/bin HOME="$WORK/home" LANG=C.UTF-8 TZ=UTC XDG_RUNTIME_DIR="$WORK/run" \
    QT_QPA_PLATFORM=offscreen "${NONET[@]}" "$BIN" "$@")
}
fail() { echo "smoke: FAIL: $*" >&2; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# 1. The program starts and its command table is complete.
t0=$(now)
out=$(app --version) && [[ $out == "emolive "* ]] || fail "--version: $out"
echo "smoke: $out; --version in $(secs "$t0" "$(now)") s"
out=$(app eval --help) && [[ $out == *asr* ]] || fail "eval --help does not list the evaluators"
if [ -d "$APP/_internal/torch" ]; then  # the full build bundles the trainers; the run-time build says it has none
  out=$(app -m training --help) && [[ $out == *"usage: python -m training"* ]] \
    || fail "-m training (the Fine-tune dialog's trainer): $out"
else
  out=$(app -m training --help 2>&1) && fail "-m training should refuse in the run-time build" || true
  [[ $out == *"need the full install"* ]] || fail "-m training in the run-time build: $out"
  echo "smoke: run-time build (no torch): the trainers are not bundled and -m training says so"
fi

# 2. analyze: the demo clip through the whole pipeline (face, voice, Whisper + VAD, MiniLM text, fusion).
t0=$(now)
app analyze "$DEMO" -o "$WORK/x.csv" --summary --no-progress > "$WORK/analyze.out" 2> "$WORK/analyze.err" \
  || { cat "$WORK/analyze.err" >&2; fail "analyze exited with an error"; }
total=$(secs "$t0" "$(now)")
cat "$WORK/analyze.out"
grep -q 'time share:' "$WORK/analyze.out" || fail "analyze --summary printed no time share"
grep -qi 'happy' "$WORK/analyze.out" || fail "no transcript of the demo's speech (Whisper or VAD missing?)"
grep -i 'warning\|error' "$WORK/analyze.err" | grep -v 'Loading weights' >&2 || true
[ -f "$WORK/x.csv" ] || fail "no CSV written"
need=(text)
[ -f "$APP/_internal/assets/face/config.json" ] && need+=(face)
[ -f "$APP/_internal/assets/voice/config.json" ] && need+=(voice)
# Columns up to the transcript hold numbers and labels only, so splitting at commas is safe for them.
awk -F, -v need="${need[*]}" '
  NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i
            if (!("emo_neutral" in col) || !("dominant" in col)) { print "bad header"; bad = 1; exit } next }
  $col["emo_neutral"] != "" {  # an estimate row (a marker row has empty estimate columns)
    rows++; s = 0
    for (c in col) if (c ~ /^emo_/) s += $col[c]
    if (s < 0.99 || s > 1.01) { print "row " NR ": emotion probabilities sum to " s; bad = 1 }
    n = split(need, m, " "); for (k = 1; k <= n; k++) if ($col[m[k] "_present"] == 1) seen[m[k]] = 1 }
  END { if (bad) exit 1
        if (rows < 100) { print "only " rows " rows"; exit 1 }
        n = split(need, m, " "); for (k = 1; k <= n; k++) if (!(m[k] in seen)) { print "no " m[k] " output in any row"; exit 1 }
        print "smoke: CSV " rows " rows; channels seen: " need }' "$WORK/x.csv" || fail "CSV check"
analysis=$(sed -n 's/.* of media in \([0-9.]*\) s .*/\1/p' "$WORK/analyze.out")
echo "smoke: analyze took $total s in all; launch to models loaded (the first estimate follows one 0.1 s step" \
  "later): $(secs "${analysis:-0}" "$total") s"

# 3. The GUI replays the clip offscreen; 3 s after its pipeline is running it saves a screenshot and quits,
#    printing the event-loop measurement with the number of estimates it received.
t0=$(now)
app --video "$DEMO" --no-camera --no-mic --measure-stalls 3 --screenshot "$WORK/gui.png" --after 3 --quit-after 300 \
  > "$WORK/gui.out" 2> "$WORK/gui.err" || { tail -20 "$WORK/gui.err" >&2; fail "the GUI exited with an error"; }
total=$(secs "$t0" "$(now)")
line=$(grep '"estimates"' "$WORK/gui.out" || true)
[ -n "$line" ] || { tail -20 "$WORK/gui.err" >&2; fail "the GUI printed no measurement (did it start?)"; }
estimates=$(sed 's/.*"estimates": *\([0-9]*\).*/\1/' <<< "$line")
[ "${estimates:-0}" -gt 0 ] || fail "the GUI received no estimates: $line"
[ -s "$WORK/gui.png" ] || fail "the GUI saved no screenshot"
cp "$WORK/gui.png" "${SMOKE_SCREENSHOT:-/tmp/emolive-smoke-gui.png}"
echo "smoke: GUI $line"
stamp=$(sed -n 's/^\([0-9-]* [0-9:]*\),\([0-9]*\) WARNING .*screenshot saved to.*/\1.\2/p' "$WORK/gui.err" | head -1)
[ -n "$stamp" ] || fail "the GUI logged no screenshot"
shot=$(TZ=UTC date -d "$stamp" +%s.%N)
echo "smoke: GUI launch to pipeline running (estimates every 0.1 s from then): $(secs "$t0" "$shot" | \
  awk '{ printf "%.1f", $1 - 3 }') s; whole run $total s; screenshot: ${SMOKE_SCREENSHOT:-/tmp/emolive-smoke-gui.png}"
echo "smoke: OK"
