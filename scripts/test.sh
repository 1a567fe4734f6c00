#!/usr/bin/env bash
# One command: create .venv (CPU torch), install turnpoint with its test extras, run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# The CPU wheel of torch 2.13.0 (a bare "torch" would pull a multi-GB CUDA build).
python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet -e ".[test]"
python -m pytest -q "$@"
