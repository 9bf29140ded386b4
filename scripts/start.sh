#!/usr/bin/env bash
# `npm start`: build everything, then open Chromium with the built extension loaded,
# in a throw-away profile, with a demo page and a model ready. Needs a display.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-system-packages.sh
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

# Chromium with the extension, a demo page and a model (CHORD_MODEL: a path or a URL;
# unset: pick one from the catalog in the options page). See scripts/start.mjs.
exec node scripts/start.mjs
