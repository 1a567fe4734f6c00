#!/usr/bin/env bash
# What do the speed-perturbed pseudo-speakers (_sp0.88 / _sp1.12) buy? (the ablation table of MODEL_CARD.md)
# Same training people, same 3 h, same seeds, same validation folder; only the perturbed ids removed.
#   TURNPOINT_DATA=DIR bash research/ablation_perturbation.sh   # (or DATA=...; a folder outside the repository)
# Needs what recipes/train_default_model.sh builds: DATA/voices (--perturb), DATA/sim (splits.json,
# validation/), DATA/test_real, DATA/runs/default_v2/history.jsonl (the with-perturbation run),
# and an installed turnpoint. About 20 min on 2 busy CPU cores (two 8-epoch trainings).
# Writes DATA/sim_noperturb/, DATA/runs/noperturb, DATA/runs/perturb_e8 and DATA/ablation_perturbation/
# (detections, evaluation JSON, and table.md: the table of DATA/ablation_perturbation.md).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-${TURNPOINT_DATA:?set TURNPOINT_DATA (or DATA) to the data folder of recipes/train_default_model.sh}}
EPOCHS=${EPOCHS:-8}
HOURS=${HOURS:-3}
WITH_MODEL=${WITH_MODEL:-src/turnpoint/models/paper.safetensors}    # shipped BiLSTM (best of 18 epochs)
WITH_HISTORY=${WITH_HISTORY:-$DATA/runs/default_v2/history.jsonl}     # its per-epoch history
RETRAIN_WITH=${RETRAIN_WITH:-1}  # 1: also retrain the with-perturbation recipe for $EPOCHS epochs (best epoch <= $EPOCHS)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
OUT=$DATA/ablation_perturbation
mkdir -p "$OUT"

# 1. Ablation training split: the training people of DATA/sim/splits.json without their perturbed copies.
#    Conversation i depends only on (seed, i) and the pool: same seed, count and durations as DATA/sim/train.
python - "$DATA" "$HOURS" <<'PY'
import json, sys
from turnpoint.changes.simulate import simulate_conversations
data, hours = sys.argv[1], float(sys.argv[2])
train = json.load(open(f"{data}/sim/splits.json"))["train"]
speakers = [s for s in train if not s.endswith(("_sp0.88", "_sp1.12"))]
dur = (60.0, 180.0)  # recipes/simulate_conversations.py defaults
n = max(1, int(round(hours * 3600 / (sum(dur) / 2))))
print(f"ablation train: {len(speakers)} of {len(train)} speaker ids, {n} conversations", flush=True)
infos = simulate_conversations(f"{data}/voices", f"{data}/sim_noperturb/train", speakers=speakers,
                               n_conversations=n, duration_s=dur, seed=0, prefix="train")
json.dump({"train": speakers}, open(f"{data}/sim_noperturb/splits.json", "w"), indent=1)
print(f"ablation train: {sum(i['duration_s'] for i in infos) / 3600:.2f} h", flush=True)
PY

# 2. Train without perturbation (and, for a like-for-like test comparison, the with-perturbation
#    recipe for the same number of epochs: training is deterministic and has no epoch-dependent
#    schedule, so its history reproduces the first epochs of WITH_HISTORY).
train_once() {  # data run_folder
  if [ -f "$2/checkpoint.safetensors" ]; then
    echo "$2 exists: not retrained"
  else
    turnpoint train "$1" --validation "$DATA/sim/validation" --out "$2" --epochs "$EPOCHS" --seed 0 --threads 1
  fi
}
train_once "$DATA/sim_noperturb/train" "$DATA/runs/noperturb"
if [ "$RETRAIN_WITH" = 1 ]; then
  train_once "$DATA/sim/train" "$DATA/runs/perturb_e$EPOCHS"
fi

# 3. Paper path (BiLSTM alone, no GE2E re-scoring) on the held-out real-voice test split.
evaluate_model() {  # name model
  turnpoint detect "$DATA/test_real" --model "$2" --no-rescore --out "$OUT/$1" --format rttm --overwrite
  turnpoint evaluate "$DATA/test_real" "$OUT/$1" --bridge 2.0 --json "$OUT/$1.json" | tail -3
}
evaluate_model with "$WITH_MODEL"
evaluate_model noperturb "$DATA/runs/noperturb/model.safetensors"
if [ "$RETRAIN_WITH" = 1 ]; then
  evaluate_model "with_e$EPOCHS" "$DATA/runs/perturb_e$EPOCHS/model.safetensors"
fi

# 4. The markdown table.
python - "$DATA" "$EPOCHS" "$WITH_HISTORY" "$RETRAIN_WITH" <<'PY'
import json, sys
from pathlib import Path
import numpy as np
data, epochs, with_history, retrain = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
out = Path(data) / "ablation_perturbation"

def history(path):
    return [json.loads(l) for l in open(path) if l.strip()]

def n_ids(path):
    return len(json.load(open(path))["train"])

def test(name):
    return json.load(open(out / f"{name}.json"))

h_with, h_no = history(with_history), history(f"{data}/runs/noperturb/history.jsonl")
b = max(h_with, key=lambda r: r["val_f1"])
rows = [
    (f"with perturbation (shipped `paper`: best of {len(h_with)} epochs = epoch {b['epoch']}, val F1 {b['val_f1']:.3f})",
     n_ids(f"{data}/sim/splits.json"), h_with, "with"),
]
if retrain:
    rows.append((f"with perturbation, {epochs} epochs (retrained)", n_ids(f"{data}/sim/splits.json"),
                 history(f"{data}/runs/perturb_e{epochs}/history.jsonl"), f"with_e{epochs}"))
rows.append(("without perturbation", n_ids(f"{data}/sim_noperturb/splits.json"), h_no, "noperturb"))

head = ("| training pool | speaker ids | " + " | ".join(f"val F1 ep{e}" for e in range(1, epochs + 1))
        + f" | best val F1 (epoch), ep 1-{epochs} | test F1 | test precision | test recall | purity | coverage |")
lines = [head, "|" + "---|" * (head.count("|") - 1)]
for label, n, h, name in rows:
    f1 = [r["val_f1"] for r in h[:epochs]]
    best = int(np.argmax(f1))
    t = test(name)["overall"]
    lines.append(f"| {label} | {n} | " + " | ".join(f"{v:.3f}" for v in f1)
                 + f" | {f1[best]:.3f} ({best + 1}) | {t['f1']:.3f} | {t['precision']:.3f} | {t['recall']:.3f}"
                 + f" | {100 * t['purity']:.1f} | {100 * t['coverage']:.1f} |")

# Paired bootstrap over the 12 test files: F1 difference (without - with), pooled counts.
def counts(name):
    return {f["uri"]: (f["hits"], f["n_reference"], f["n_hypothesis"]) for f in test(name)["files"]}
def f1_of(c, idx):
    h, r, p = (sum(c[i][k] for i in idx) for k in range(3))
    return 2 * h / (r + p) if r + p else 0.0
rng = np.random.default_rng(0)
notes = []
for base in (["with"] + ([f"with_e{epochs}"] if retrain else [])):
    a, b = counts(base), counts("noperturb")
    uris = sorted(a)
    diffs = []
    for _ in range(10000):
        idx = [uris[i] for i in rng.integers(len(uris), size=len(uris))]
        diffs.append(f1_of(b, idx) - f1_of(a, idx))
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    notes.append(f"test F1 without - {base}: {f1_of(b, uris) - f1_of(a, uris):+.3f} "
                 f"(95 % paired bootstrap over the {len(uris)} test files: {lo:+.3f} to {hi:+.3f})")
text = "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"
(out / "table.md").write_text(text)
print(text)
PY
