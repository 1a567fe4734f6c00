#!/usr/bin/env bash
# Rebuild the bundled default model from nothing (about 5 min of data + ~25 min of training on 2 CPU cores).
#   DATA=/work/data bash scripts/train_default_model.sh
# Needs Debian's TTS voices (installed below, as root) and an installed turnpoint (bash scripts/test.sh or pip install -e .).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../data}
EPOCHS=${EPOCHS:-60}
if ! command -v espeak-ng >/dev/null || ! command -v flite >/dev/null || ! command -v text2wave >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts sox
fi
python scripts/prepare_voices.py --out "$DATA/voices" --debs "$DATA/debs" --seed 0 --perturb
python scripts/simulate_conversations.py --voices "$DATA/voices" --out "$DATA/sim" \
  --hours 3 --val-hours 0.3333 --seed 0 --split-by-speaker
python scripts/make_example.py --voices "$DATA/voices"
turnpoint train "$DATA/sim/train" --validation "$DATA/sim/validation" --out "$DATA/runs/default" \
  --epochs "$EPOCHS" --seed 0
mkdir -p src/turnpoint/models
cp "$DATA/runs/default/model.safetensors" src/turnpoint/models/default.safetensors
turnpoint summary --model src/turnpoint/models/default.safetensors
