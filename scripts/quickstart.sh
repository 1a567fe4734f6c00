#!/usr/bin/env bash
# One command: create .venv (CPU torch), install turnpoint, detect speaker changes in the bundled
# two-speaker example with the bundled model, print the change points, write outputs to example_out/.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet -e .
EXAMPLE=$(python -c "import turnpoint; print(turnpoint.example_path())")
turnpoint detect "$EXAMPLE" --out example_out --plot --scores --reference "${EXAMPLE%.flac}.rttm"
