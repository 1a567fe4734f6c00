#!/usr/bin/env bash
# One command: set up .venv, detect speaker changes in the bundled two-speaker example with the
# bundled model, print the change points and write outputs (RTTM/JSON/CSV/scores/PNG) to example_out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
EXAMPLE=$(.venv/bin/python -c "import turnpoint; print(turnpoint.example_path())")
.venv/bin/turnpoint detect "$EXAMPLE" --out example_out --plot --scores --reference "${EXAMPLE%.flac}.rttm" --overwrite
