#!/usr/bin/env bash
# One command: set up .venv, detect speaker changes in the bundled two-speaker example with the
# bundled model, print the change points and write outputs (speaker-labelled RTTM, JSON, CSV,
# TextGrid, scores, PNG and an HTML report) to example_out/, then score them against the reference.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
EXAMPLE=$(.venv/bin/python -c "import turnpoint; print(turnpoint.example_path())")
.venv/bin/turnpoint detect "$EXAMPLE" --out example_out --format rttm,json,csv,textgrid --plot --report --scores \
    --reference "${EXAMPLE%.flac}.rttm" --overwrite
.venv/bin/turnpoint evaluate "${EXAMPLE%.flac}.rttm" example_out/two_speakers.rttm
