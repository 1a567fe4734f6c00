#!/usr/bin/env bash
# One command: set up .venv with the test extras and run the whole test suite (and doctests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
# the HTML report's test renders it in headless Chromium (Debian's package): install it where we may
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
        || echo "note: could not install chromium; the HTML report's browser test will be skipped" >&2
fi
.venv/bin/python -m pytest -q "$@"
