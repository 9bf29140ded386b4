#!/usr/bin/env bash
# Make sure the Debian packages the tests drive are present:
#   chromium    the e2e tests' browser (Playwright uses /usr/bin/chromium through
#               executablePath; never `npx playwright install`)
#   libvulkan1  the Vulkan loader Dawn (the `webgpu` package) needs to reach
#               Chromium's SwiftShader ICD in Node
#   xvfb        xvfb-run, for the headed-Chromium side-panel test
# Extra packages can be named as arguments; `npm run test:e2e` adds
#   firefox-esr the Firefox e2e tests' browser (puppeteer-core over WebDriver BiDi);
#               measured here: 80 MB download, 312 MB on disk, 15 s to install
#               (not in the default list: `npm start` needs only Chromium)
set -euo pipefail

PACKAGES=(chromium libvulkan1 xvfb "$@")

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-system-packages: installing ${missing[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
  exit 0
fi

cat >&2 <<MSG
ensure-system-packages: missing Debian packages: ${missing[*]}
Install them as root:
    apt-get update && apt-get install -y ${missing[*]}
MSG
exit 1
