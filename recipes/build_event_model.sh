#!/usr/bin/env bash
# Build the bundled sound event model (src/turnpoint/models/events_default.safetensors) from
# Debian's non-speech sounds, then evaluate it on held-out mixtures and rebuild the example.
#
#   TURNPOINT_DATA=DIR bash recipes/build_event_model.sh   # data in DIR/events, voices in DIR/voices
#   (or DATA=... VOICES=...; folders outside the repository)
#
# Needs: apt-get (to download sound-theme-freedesktop, asterisk-moh-opsound-wav, alsa-utils),
# a voice pool in $VOICES (see recipes/prepare_voices.py; used for speech backgrounds), and
# `pip install -e '.[events]'` for PSDS. About 160 minutes on 2 CPU cores (six trainings of 150 epochs of 13-19 s with
# one torch thread, two or three at a time, plus data, feature extraction and tuning). The bundled model is the
# ensemble of seeds 0, 1 and 2 of the recipe below and of the same recipe with --mixup 0.5, its phone and
# chime decoding those of the three plain networks' ensemble (docs/events.md, "Six networks, phone and chime decoding
# kept"); trained with 30 low pure-tone beeps in the procedural beep pool (--low-tone-beeps 30).
# The voice pool's TTS text is shipped (recipes/data/voice_sentences.txt), so the mixtures rebuild
# the same on any Debian 12 machine; training on CPU is seeded but not bit-exact across CPUs and torch versions.
# A short run (EPOCHS=2 DATA=<empty folder>) goes end to end in about 10 min (docs/events.md, "Rebuilding the bundled
# model"): its mixtures are byte for byte those the bundled members trained on, its first two epochs give their losses
# exactly, and the tuning and decoding steps, fed the bundled members, rebuild events_default.safetensors weight for weight.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-${TURNPOINT_DATA:?set TURNPOINT_DATA (a data folder outside the repository) or DATA and VOICES}/events}
VOICES=${VOICES:-${TURNPOINT_DATA:?set TURNPOINT_DATA (a data folder outside the repository) or VOICES}/voices}
RUN=${RUN:-$DATA/runs/default}
EPOCHS=${EPOCHS:-150}

mkdir -p "$DATA/debs"
if [ ! -d "$DATA/raw/usr/share/sounds/freedesktop" ]; then
  (cd "$DATA/debs" && apt-get download sound-theme-freedesktop asterisk-moh-opsound-wav alsa-utils)
  for deb in "$DATA"/debs/*.deb; do dpkg -x "$deb" "$DATA/raw"; done
fi
# always rebuilt (15 s, deterministic): train/validation must match the current synthetic sounds
rm -rf "$DATA/train" "$DATA/validation"
python recipes/make_event_data.py --raw "$DATA/raw" --voices "$VOICES" --out "$DATA" --low-tone-beeps 30
rm -rf "$RUN"
# three seeds of one recipe and three of the same with mixup (three at a time, one torch thread each)
train_seed() {  # seed, run folder, extra options
  turnpoint --quiet train --task events "$DATA/train" --validation "$DATA/validation" --out "$RUN/$2" --epochs "$EPOCHS" \
    --batch-size 64 --learning-rate 0.002 --chunks-per-epoch 1280 --seed "$1" --threads 1 \
    --bidirectional --conv-kernel 16 --conv-regions 4 --event-pos-weight sqrt --features logmel ${3:-}
}
train_seed 0 seed0 & train_seed 1 seed1 & train_seed 2 seed2 & wait
train_seed 0 mixup0 "--mixup 0.5" & train_seed 1 mixup1 "--mixup 0.5" & train_seed 2 mixup2 "--mixup 0.5" & wait
turnpoint tune --task events "$DATA/validation" --out "$RUN/plain" \
  --ensemble "$RUN/seed0/model.safetensors" "$RUN/seed1/model.safetensors" "$RUN/seed2/model.safetensors"
turnpoint tune --task events "$DATA/validation" --out "$RUN/six" --ensemble "$RUN"/seed?/model.safetensors "$RUN"/mixup?/model.safetensors
python - "$RUN/six/events_ensemble.safetensors" "$RUN/plain/events_ensemble.safetensors" <<'PY'
import sys
from turnpoint.events.modelfile import load_event_model, save_event_model
m, plain = load_event_model(sys.argv[1]), load_event_model(sys.argv[2])
decode = dict(m.decode, phone=plain.decode["phone"], chime=plain.decode["chime"])  # they transfer better to unheard sounds
training = dict(m.training, decoding_note="tuned on validation, except phone and chime: those of the ensemble of the three plain "
                 "networks, whose starts transfer better to unheard recordings (docs/events.md)")
save_event_model("src/turnpoint/models/events_default.safetensors", model=m.model, specifications=m.specifications,
                 decode=decode, training=training, name="default")
PY
turnpoint summary --task events --model src/turnpoint/models/events_default.safetensors
# the classical baseline on the same data (per-class GMMs, DCASE 2016 task 3's method; about 4 minutes), bundled as "gmm"
turnpoint --quiet train --task events "$DATA/train" --validation "$DATA/validation" --out "$RUN/gmm" --architecture gmm
cp "$RUN/gmm/model.safetensors" src/turnpoint/models/events_gmm.safetensors
turnpoint evaluate --task events "$DATA/test/events.tsv" "$DATA/test" --durations "$DATA/test/durations.tsv" --model gmm --json "$RUN/gmm_test_report.json"
turnpoint evaluate --task events "$DATA/test/events.tsv" "$DATA/test" --durations "$DATA/test/durations.tsv" --json "$RUN/test_report.json"
python recipes/make_event_example.py --raw "$DATA/raw" --voices "$VOICES"
chmod 644 src/turnpoint/examples/events_example.* src/turnpoint/models/events_default.safetensors src/turnpoint/models/events_gmm.safetensors
turnpoint events src/turnpoint/examples/events_example.flac --out "$RUN/example_out" \
  --reference src/turnpoint/examples/events_example.tsv
