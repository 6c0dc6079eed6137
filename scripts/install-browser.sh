#!/usr/bin/env bash
# Browser tests drive Debian's chromium with Playwright; never a downloaded browser build.
set -euo pipefail
# fonts-noto-cjk: Chinese pages render as boxes in screenshots without a CJK font.
if [ -x /usr/bin/chromium ] && fc-list :lang=zh 2>/dev/null | grep -q .; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "chromium or a CJK font is missing: run 'sudo apt-get install chromium fonts-noto-cjk'" >&2
  exit 1
fi
echo "installing Debian's chromium and CJK fonts for the browser tests…"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
