#!/usr/bin/env bash
# Rebuild the bundled models from nothing: ~5 min of data, ~15-30 min of training (2 CPU cores) for
# models/paper.safetensors (the BiLSTM), ~15 min to choose the re-scoring of the hybrid
# models/default.safetensors, ~20 min for the comparison table of MODEL_CARD.md.
#   TURNPOINT_DATA=DIR bash recipes/train_default_model.sh   # (or DATA=...; a folder outside the repository)
# Needs Debian's TTS voices (installed below, as root) and an installed turnpoint (bash scripts/test.sh or pip install -e .).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-${TURNPOINT_DATA:?set TURNPOINT_DATA (or DATA) to a data folder outside the repository}}
EPOCHS=${EPOCHS:-18}  # the shipped model: best of 18 epochs (validation F1 plateaus after ~3)
if ! command -v espeak-ng >/dev/null || ! command -v flite >/dev/null || ! command -v text2wave >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts sox
fi
python recipes/prepare_voices.py --out "$DATA/voices" --debs "$DATA/debs" --seed 0 --perturb
python recipes/simulate_conversations.py --voices "$DATA/voices" --out "$DATA/sim" \
  --hours 3 --val-hours 0.3333 --seed 0 --split-by-speaker
python recipes/make_example.py --voices "$DATA/voices"
# Test split: two real voices held out of every training/validation split (Allison, Carlo).
python - "$DATA" <<'PY'
import sys
from turnpoint.changes.simulate import SimulationConfig, simulate_conversations
data = sys.argv[1]
simulate_conversations(f"{data}/voices", f"{data}/test_real", speakers=["real_en-us-allison", "real_it-carlo"],
                       n_conversations=12, duration_s=(60, 120), seed=1234, prefix="test",
                       config=SimulationConfig(n_speakers_p=(1.0,)))
PY
turnpoint train "$DATA/sim/train" --validation "$DATA/sim/validation" --out "$DATA/runs/default" \
  --epochs "$EPOCHS" --seed 0 --threads 1
mkdir -p src/turnpoint/models
cp "$DATA/runs/default/model.safetensors" src/turnpoint/models/paper.safetensors
turnpoint summary --model src/turnpoint/models/paper.safetensors
# Re-scoring settings of the hybrid default (about 15 min): more conversations of the validation
# people (dev2) and of real voices outside the test split (dev_real: Armelle from validation; June,
# Menardi and the Colombian voice, whom the BiLSTM heard in training — it only proposes candidates).
python - "$DATA" <<'PY'
import json, sys
from turnpoint.changes.simulate import simulate_conversations
data = sys.argv[1]
people = {s for line in open(f"{data}/sim/validation/conversations.jsonl") for s in json.loads(line)["speakers"]}
simulate_conversations(f"{data}/voices", f"{data}/sim/dev2", speakers=sorted(people | {"festival_ked_diphone"}),
                       n_conversations=30, duration_s=(60, 120), seed=2000, prefix="dev")
simulate_conversations(f"{data}/voices", f"{data}/sim/dev_real", n_conversations=30, duration_s=(60, 120), seed=3000,
                       prefix="devreal", speakers=["real_fr-armelle", "real_fr-ca-june", "real_it-menardi", "real_es-co"])
PY
python recipes/choose_rescoring.py "$DATA/sim/validation" "$DATA/sim/dev2" "$DATA/sim/dev_real" --model paper \
  --out src/turnpoint/models/default.safetensors --cache "$DATA/choose_rescoring" --clustering "$DATA/sim/dev_real" \
  --data-root "$DATA"
# The model card's table (about 15 min, mostly the GE2E baseline):
python recipes/compare_systems.py --test "$DATA/test_real" --dev "$DATA/sim/validation" --bridge 2.0 --model paper \
  --systems bilstm,bic,gaussian_divergence,glr,kernel_cpd,ge2e,ge2e_2.4s --out "$DATA/compare"
turnpoint detect "$DATA/test_real" --out "$DATA/out_default" --format rttm   # the hybrid default
turnpoint evaluate "$DATA/test_real" "$DATA/out_default" --bridge 2.0
