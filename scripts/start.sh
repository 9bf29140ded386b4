#!/usr/bin/env bash
# `npm start`: build everything, then open Chromium with the built extension loaded,
# in a throw-away profile. Needs a display; the extension UI arrives with a later issue.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-chromium.sh
npm run build

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  cat >&2 <<'MSG'
npm start: built .output/chrome-mv3, but there is no display to open Chromium on.
  - On a desktop, run `npm start` from a graphical session.
  - On a server, give it a virtual display: `apt-get install -y xvfb && xvfb-run -a npm start`.
  - Or load .output/chrome-mv3 yourself: chrome://extensions -> Developer mode -> Load unpacked.
MSG
  exit 1
fi

extension="$PWD/.output/chrome-mv3"
profile="$(mktemp -d -t chord-profile.XXXXXX)"
trap 'rm -rf "$profile"' EXIT

flags=(
  --user-data-dir="$profile"
  --load-extension="$extension"
  --disable-extensions-except="$extension"
  --no-first-run
  --no-default-browser-check
)
# Chromium refuses to run as root with its sandbox on.
if [ "$(id -u)" -eq 0 ]; then flags+=(--no-sandbox); fi

echo "npm start: opening Chromium with $extension (profile $profile, removed on exit)"
"${CHORD_CHROMIUM:-/usr/bin/chromium}" "${flags[@]}" chrome://extensions
