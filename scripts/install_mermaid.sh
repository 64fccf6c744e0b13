#!/usr/bin/env bash
# The Mermaid CLI (`mmdc`) in a prefix of its own, driving Debian's chromium: a browser is never downloaded.
# Usage: scripts/install_mermaid.sh [PREFIX]   (default: .tools/mermaid in the checkout, ignored by git)
# Idempotent: a prefix that already holds the pinned version is left alone (no npm, no network).
set -euo pipefail

# 11.x runs on Node ^18.19 || >=20 (Debian bookworm ships 18.20); 12.x needs Node >= 22.13.
VERSION="${MERMAID_CLI_VERSION:-11.17.0}"
PREFIX="${1:-$(cd "$(dirname "$0")/.." && pwd)/.tools/mermaid}"
MMDC="$PREFIX/node_modules/.bin/mmdc"
BROWSER="${PUPPETEER_EXECUTABLE_PATH:-/usr/bin/chromium}"

if [ -x "$MMDC" ] && [ "$(cat "$PREFIX/.version" 2>/dev/null)" = "$VERSION" ]; then
  exit 0
fi

apt_install() {
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    echo "install_mermaid.sh: $* missing; install them (apt-get install $*) or run as root" >&2
    exit 1
  fi
}

command -v node >/dev/null 2>&1 || apt_install nodejs npm
command -v npm >/dev/null 2>&1 || apt_install npm
[ -x "$BROWSER" ] || apt_install chromium

mkdir -p "$PREFIX"
PUPPETEER_SKIP_DOWNLOAD=1 npm install --prefix "$PREFIX" --no-audit --no-fund --omit=dev --loglevel=error \
  "@mermaid-js/mermaid-cli@$VERSION" >/dev/null

# For running mmdc by hand (`mmdc -p PREFIX/puppeteer.json ...`); SMA writes its own config per render.
if [ "$(id -u)" = 0 ]; then args='["--no-sandbox", "--disable-dev-shm-usage"]'; else args='["--disable-dev-shm-usage"]'; fi
printf '{"executablePath": "%s", "args": %s}\n' "$BROWSER" "$args" > "$PREFIX/puppeteer.json"
echo "$VERSION" > "$PREFIX/.version"
echo "mmdc $VERSION in $MMDC (browser $BROWSER)"
