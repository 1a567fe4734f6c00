#!/usr/bin/env bash
# One command: set up .venv with the test extras and run the whole test suite (and doctests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
.venv/bin/python -m pytest -q "$@"
