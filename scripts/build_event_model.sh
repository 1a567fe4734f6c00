#!/usr/bin/env bash
# Build the bundled sound event model (src/turnpoint/models/events_default.safetensors) from
# Debian's non-speech sounds, then evaluate it on held-out mixtures and rebuild the example.
#
#   bash scripts/build_event_model.sh            # data in /work/data/events (override: DATA=...)
#
# Needs: apt-get (to download sound-theme-freedesktop, asterisk-moh-opsound-wav, alsa-utils),
# a voice pool in $VOICES (see scripts/prepare_voices.py; used for speech backgrounds), and
# `pip install -e '.[events]'` for PSDS. About 40 minutes on 2 busy CPU cores (150 epochs of 13-17 s with one torch
# thread, plus data, feature extraction and tuning). The bundled model is training seed 1 (docs/events.md, session 6).
# The voice pool's TTS text is shipped (scripts/data/voice_sentences.txt, since session 7), so the mixtures rebuild
# the same on any Debian 12 machine; training on CPU is seeded but not bit-exact across CPUs and torch versions.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-/work/data/events}
VOICES=${VOICES:-/work/data/voices}
RUN=${RUN:-$DATA/runs/default}
EPOCHS=${EPOCHS:-150}

mkdir -p "$DATA/debs"
if [ ! -d "$DATA/raw/usr/share/sounds/freedesktop" ]; then
  (cd "$DATA/debs" && apt-get download sound-theme-freedesktop asterisk-moh-opsound-wav alsa-utils)
  for deb in "$DATA"/debs/*.deb; do dpkg -x "$deb" "$DATA/raw"; done
fi
# always rebuilt (15 s, deterministic): train/validation must match the current synthetic sounds
rm -rf "$DATA/train" "$DATA/validation"
python scripts/make_event_data.py --raw "$DATA/raw" --voices "$VOICES" --out "$DATA"
rm -rf "$RUN"
turnpoint train --task events "$DATA/train" --validation "$DATA/validation" --out "$RUN" --epochs "$EPOCHS" \
  --batch-size 64 --learning-rate 0.002 --chunks-per-epoch 1280 --seed 1 --threads 1 \
  --bidirectional --conv-kernel 16 --conv-regions 4 --event-pos-weight sqrt --features logmel
cp "$RUN/model.safetensors" src/turnpoint/models/events_default.safetensors
turnpoint summary --task events --model src/turnpoint/models/events_default.safetensors
turnpoint evaluate --task events "$DATA/test/events.tsv" "$DATA/test" --durations "$DATA/test/durations.tsv" --json "$RUN/test_report.json"
python scripts/make_event_example.py --raw "$DATA/raw" --voices "$VOICES"
chmod 644 src/turnpoint/examples/events_example.* src/turnpoint/models/events_default.safetensors
turnpoint events src/turnpoint/examples/events_example.flac --out "$RUN/example_out" \
  --reference src/turnpoint/examples/events_example.tsv
