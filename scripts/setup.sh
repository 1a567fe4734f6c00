#!/usr/bin/env bash
# Create .venv (if missing) and install turnpoint into it with the CPU build of torch.
#   bash scripts/setup.sh          # the package
#   bash scripts/setup.sh test     # with the test extras
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# The CPU wheel of torch 2.13.0 (a bare "torch" would pull a multi-GB CUDA build).
python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet -e ".${1:+[$1]}"
