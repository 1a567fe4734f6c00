#!/usr/bin/env bash
# Install the benchmark's peers into their OWN virtual environment (never the project's):
#   pyannote.audio (its segmentation model PyanNet + Inference) and ruptures (KernelCPD).
#
#   TURNPOINT_DATA=DIR bash scripts/install_peers.sh   # -> $TURNPOINT_DATA/peers-venv
#   PEERS_VENV=/some/where bash scripts/install_peers.sh
#
# CPU-only machines: pyannote.audio 4.x depends on torchaudio and torchcodec; a bare install pulls
# CUDA builds of torch/torchaudio that are GBs and fail to load without a GPU. We pin the CPU wheel
# of torch first (torch==2.13.0, the same as the project) and install the rest against it. If
# torchaudio/torchcodec still fail to import their native parts, the benchmark does not need them:
# it hands pyannote waveforms in memory ({"waveform": tensor, "sample_rate": 16000}), so no audio
# decoding goes through torchaudio/torchcodec. The benchmark prints "MISSING" for a peer that
# cannot be imported rather than failing.
set -uo pipefail
PEERS_VENV=${PEERS_VENV:-${TURNPOINT_DATA:?set TURNPOINT_DATA (a data folder outside the repository) or PEERS_VENV}/peers-venv}
PYTHON=${PYTHON:-python3}
[ -x "$PEERS_VENV/bin/python" ] || "$PYTHON" -m venv "$PEERS_VENV"
PIP="$PEERS_VENV/bin/python -m pip"
$PIP install --quiet --upgrade pip
$PIP install --quiet "torch==2.13.0" || echo "install_peers: torch==2.13.0 (CPU) could not be installed" >&2
$PIP install --quiet "ruptures>=1.1" soundfile psutil || echo "install_peers: ruptures failed" >&2
# pyannote.audio with torch held where it is (a constraint file keeps pip from swapping torch).
constraints=$(mktemp)
"$PEERS_VENV/bin/python" -c "import torch; print('torch==' + torch.__version__)" > "$constraints" 2>/dev/null || : > "$constraints"
$PIP install --quiet -c "$constraints" "pyannote.audio" || echo "install_peers: pyannote.audio could not be installed" >&2
rm -f "$constraints"
# what the benchmark will find (pyannote imported as benchmarks/peers.py does)
"$PEERS_VENV/bin/python" "$(dirname "$0")/../benchmarks/peers.py" check
