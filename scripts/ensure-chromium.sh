#!/usr/bin/env bash
# Make sure Debian's Chromium is present for the end-to-end tests.
# Playwright drives /usr/bin/chromium through executablePath; it never downloads
# its own browsers (no `npx playwright install`).
set -euo pipefail

CHROMIUM="${CHORD_CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: $CHROMIUM is missing; installing Debian's chromium with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends chromium
  if [ -x "$CHROMIUM" ]; then
    exit 0
  fi
  echo "ensure-chromium: apt-get finished but $CHROMIUM is still missing" >&2
  exit 1
fi

cat >&2 <<MSG
ensure-chromium: $CHROMIUM is missing.
The end-to-end tests drive Debian's Chromium. Install it as root:
    apt-get update && apt-get install -y chromium
(or point CHORD_CHROMIUM at another Chromium binary).
MSG
exit 1
