#!/usr/bin/env bash
# Install everything the tests need on a fresh machine, then run them (CI runs exactly this).
set -euo pipefail
cd "$(dirname "$0")/.."

# Headless Chromium for the dashboard's end-to-end tests (they skip, saying why, when it is absent).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[dev]'
# No marker filter: the slow tests (full pipeline runs, the fault drills of tests/test_fault_drills.py) run too.
exec .venv/bin/pytest -q "$@"
