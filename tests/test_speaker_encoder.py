"""The bundled GE2E speaker encoder against resemblyzer itself, batching, and the weight file checks."""

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from synth import VOICES, _syllables

from turnpoint.core.errors import TurnpointError
from turnpoint.core.modelfile import METADATA_KEY, looks_like_pickle
from turnpoint.changes.speaker_encoder import (
    FORMAT_VERSION,
    MelStream,
    SpeakerEncoder,
    SpeakerEncoderConfig,
    bundled_speaker_encoder_path,
    embed_segments,
    load_speaker_encoder,
    mel_frames,
    normalize_volume,
    read_speaker_encoder,
    save_speaker_encoder,
    volume_gain,
)

RATE = 16000


def _resemblyzer():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # webrtcvad imports pkg_resources
        return pytest.importorskip("resemblyzer")


@pytest.fixture(scope="module")
def reference_encoder():
    resemblyzer = _resemblyzer()
    return resemblyzer.VoiceEncoder(device="cpu", verbose=False)


def _signal(kind: str, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE
    if kind == "noise":
        return (0.1 * rng.normal(size=n)).astype(np.float32)
    if kind == "tone":
        return (0.3 * np.sin(2 * np.pi * 440.0 * t) + 0.1 * np.sin(2 * np.pi * 3100.0 * t)).astype(np.float32)
    f0, decay = VOICES[seed % len(VOICES)]
    return _syllables(n / RATE, f0, decay, rng) + (0.003 * rng.normal(size=n)).astype(np.float32)


def _voices(count: int, seconds: float) -> list[np.ndarray]:
    return [normalize_volume(_signal("voice", int(seconds * RATE), seed)) for seed in range(count)]


# ---------------------------------------------------------------------------------------------
# front end


@pytest.mark.filterwarnings("ignore:n_fft=400 is too large")  # librosa, on inputs shorter than a window
@pytest.mark.parametrize("kind", ["noise", "tone", "voice"])
@pytest.mark.parametrize("n", [1, 100, 399, 400, 401, 16000, 38400, 38517])
def test_mel_frames_match_resemblyzer(kind, n):
    resemblyzer = _resemblyzer()
    x = _signal(kind, n, seed=n)
    expected = resemblyzer.audio.wav_to_mel_spectrogram(x)
    ours = mel_frames(x)
    assert ours.dtype == np.float32 and ours.shape == expected.shape == (1 + n // 160, 40)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-6 * expected.max())


def test_mel_frames_batch_and_long_input_blocks():
    x = np.stack([_signal("voice", 70000, seed) for seed in range(3)])  # > MEL_BLOCK_FRAMES frames in total
    batch = mel_frames(x)
    assert batch.shape == (3, 438, 40)
    for row, signal in zip(batch, x):
        np.testing.assert_array_equal(row, mel_frames(signal))
    long = _signal("noise", 700_000)  # 4376 frames: two FFT blocks
    tail = long[4000 * 160 :]  # frame j of the tail is frame 4000 + j of the whole (away from the cut)
    np.testing.assert_allclose(mel_frames(long)[4002:], mel_frames(tail)[2:], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("n", [0, 1, 399, 400, 560, 16000, 70001])
@pytest.mark.parametrize("block", [1, 161, 4000, 10**6])
def test_mel_stream_equals_mel_frames_whatever_the_blocks(n, block):
    x = _signal("voice", n, seed=n) if n else np.zeros(0, np.float32)
    if block == 1 and n > 16000:
        block = 997  # one sample at a time is slow; 997 still cuts every frame somewhere
    stream = MelStream()
    parts = [stream.push(x[i : i + block]) for i in range(0, n, block)] + [stream.finish()]
    streamed = np.concatenate(parts)
    assert streamed.shape == mel_frames(x).shape == (1 + n // 160, 40)
    np.testing.assert_allclose(streamed, mel_frames(x), rtol=1e-5, atol=1e-8)
    with pytest.raises(RuntimeError, match="finished"):
        stream.push(x[:10])


def test_volume_gain_is_what_normalize_volume_applies():
    for scale in (1e-4, 0.01, 0.9):
        x = (scale * _signal("voice", 16000, seed=2) / 0.1).astype(np.float32)
        gain = volume_gain(float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))))
        np.testing.assert_array_equal(normalize_volume(x), x if gain is None else x * gain)
    assert volume_gain(0.0) is None and volume_gain(float("nan")) is None and volume_gain(0.9) is None


@pytest.mark.parametrize("scale", [1e-4, 0.01, 0.9])
def test_normalize_volume_matches_resemblyzer(scale):
    resemblyzer = _resemblyzer()
    x = (scale * _signal("voice", 16000, seed=1) / 0.1).astype(np.float32)
    for increase_only, decrease_only in [(True, False), (False, True), (False, False)]:
        expected = resemblyzer.audio.normalize_volume(x, -30, increase_only=increase_only, decrease_only=decrease_only)
        ours = normalize_volume(x, target_dbfs=-30, increase_only=increase_only, decrease_only=decrease_only)
        assert ours.dtype == np.float32
        np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-9)


def test_normalize_volume_leaves_silence_alone():
    silence = np.zeros(800, dtype=np.float32)
    np.testing.assert_array_equal(normalize_volume(silence), silence)  # resemblyzer gives NaN here
    assert normalize_volume(np.zeros(0, dtype=np.float32)).shape == (0,)
    with pytest.raises(ValueError):
        normalize_volume(silence, increase_only=True, decrease_only=True)


# ---------------------------------------------------------------------------------------------
# embeddings


def test_embeddings_match_resemblyzer(reference_encoder):
    # the same mel input through resemblyzer's float32 encoder and our float16-stored weights
    mels = [mel_frames(x) for x in _voices(8, 4.8)]
    segments = [m[:240] for m in mels] + [m[240:480] for m in mels] + [m[100:260] for m in mels]  # 2.4 s, 2.4 s, 1.6 s
    ours = embed_segments(segments)
    with torch.inference_mode():
        expected = np.concatenate([reference_encoder(torch.from_numpy(np.stack(segments[i : i + 8]))).numpy() for i in (0, 8, 16)])
    assert ours.shape == expected.shape == (24, 256)
    assert np.abs(ours - expected).max() < 1e-3
    distances, expected_distances = 1 - ours @ ours.T, 1 - expected @ expected.T
    assert np.abs(distances - expected_distances).max() < 2e-3
    # the encoder does tell the synthetic voices apart: same voice (two halves) closer than others
    same = np.diag(distances[:8, 8:16])
    other = distances[:8, 8:16][~np.eye(8, dtype=bool)]
    assert same.mean() < other.mean()


def test_embeddings_match_resemblyzer_end_to_end(reference_encoder):
    # samples -> normalize_volume -> mel_frames -> encoder, both pipelines
    resemblyzer = _resemblyzer()
    raw = [0.2 * _signal("voice", 38400, seed) for seed in range(4)]
    ours = embed_segments([mel_frames(normalize_volume(x)) for x in raw])
    mels = [resemblyzer.audio.wav_to_mel_spectrogram(resemblyzer.audio.normalize_volume(x, -30, increase_only=True)) for x in raw]
    with torch.inference_mode():
        expected = reference_encoder(torch.from_numpy(np.stack(mels))).numpy()
    assert np.abs(ours - expected).max() < 1e-3
    assert np.abs((1 - ours @ ours.T) - (1 - expected @ expected.T)).max() < 2e-3


def test_batched_equals_one_by_one():
    mels = [mel_frames(x) for x in _voices(5, 3.0)]
    rng = np.random.default_rng(3)
    segments = [mels[i % 5][s : s + n] for i, (s, n) in enumerate(zip(rng.integers(0, 50, 17), [240, 160, 240, 37, 240, 160, 1] * 3))]
    batched = embed_segments(segments, batch_size=4)
    assert batched.shape == (17, 256) and batched.dtype == np.float32
    one_by_one = np.concatenate([embed_segments([segment]) for segment in segments])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    encoder = load_speaker_encoder()
    with torch.inference_mode():
        direct = encoder(torch.from_numpy(np.ascontiguousarray(segments[0])[None])).numpy()
    np.testing.assert_allclose(batched[0], direct[0], atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)


def test_embed_segments_edge_cases():
    assert embed_segments([]).shape == (0, 256)
    with pytest.raises(ValueError, match="shape"):
        embed_segments([np.zeros((0, 40), dtype=np.float32)])
    with pytest.raises(ValueError, match="shape"):
        embed_segments([np.zeros((10, 35), dtype=np.float32)])
    with pytest.raises(ValueError, match="batch_size"):
        embed_segments([np.zeros((10, 40), dtype=np.float32)], batch_size=0)
    assert np.isfinite(embed_segments([np.zeros((10, 40), dtype=np.float32)])).all()  # silence: no NaN


def test_load_is_cached_float32_and_eval():
    encoder = load_speaker_encoder()
    assert load_speaker_encoder() is encoder
    assert not encoder.training and encoder.config == SpeakerEncoderConfig()
    assert all(p.dtype == torch.float32 and not p.requires_grad for p in encoder.parameters())


# ---------------------------------------------------------------------------------------------
# the weight file


def _bundled_header() -> dict:
    with safe_open(str(bundled_speaker_encoder_path()), framework="pt") as handle:
        return json.loads(handle.metadata()[METADATA_KEY])


def _write_copy(path: Path, *, header: dict | None = None, tensors: dict | None = None) -> Path:
    source = bundled_speaker_encoder_path()
    save_file(tensors if tensors is not None else load_file(str(source)), str(path), metadata={METADATA_KEY: json.dumps(header or _bundled_header())})
    return path


def test_bundled_file_is_small_safetensors_float16_not_pickle():
    path = bundled_speaker_encoder_path()
    assert path.is_file() and not looks_like_pickle(path)
    head = path.read_bytes()[:9]
    assert head[8:9] == b"{"  # safetensors: u64 header length, then the JSON header
    assert path.stat().st_size < 3_500_000
    tensors = load_file(str(path))
    assert set(tensors) == set(SpeakerEncoder(SpeakerEncoderConfig()).state_dict())  # no similarity scale, no optimizer
    assert {t.dtype for t in tensors.values()} == {torch.float16}
    header = _bundled_header()
    assert header["format"] == "turnpoint-speaker-encoder" and header["format_version"] == FORMAT_VERSION
    assert header["architecture"] == SpeakerEncoderConfig().to_dict()
    assert "Apache-2.0" in header["licence"] and header["source"].startswith("resemblyzer 0.1")
    assert (path.parent / "GE2E_LICENSE.txt").is_file()


def test_round_trip_through_copy(tmp_path):
    encoder = read_speaker_encoder(_write_copy(tmp_path / "copy.safetensors"))
    reference = load_speaker_encoder()
    for key, value in reference.state_dict().items():
        assert torch.equal(encoder.state_dict()[key], value)


def test_refuses_wrong_shape(tmp_path):
    tensors = load_file(str(bundled_speaker_encoder_path()))
    tensors["linear.weight"] = tensors["linear.weight"][:128].contiguous()
    with pytest.raises(TurnpointError, match=r"linear\.weight has shape \(128, 256\)"):
        read_speaker_encoder(_write_copy(tmp_path / "shape.safetensors", tensors=tensors))


def test_refuses_missing_tensor_and_non_finite(tmp_path):
    tensors = load_file(str(bundled_speaker_encoder_path()))
    del tensors["lstm.bias_hh_l2"]
    with pytest.raises(TurnpointError, match="missing"):
        read_speaker_encoder(_write_copy(tmp_path / "missing.safetensors", tensors=tensors))
    tensors = load_file(str(bundled_speaker_encoder_path()))
    tensors["linear.bias"][3] = float("nan")
    with pytest.raises(TurnpointError, match="NaN"):
        read_speaker_encoder(_write_copy(tmp_path / "nan.safetensors", tensors=tensors))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"format_version": FORMAT_VERSION + 1}, "format version"),
        ({"format_version": "1"}, "format version"),
        ({"format": "turnpoint-model"}, "not a turnpoint speaker encoder"),
        ({"architecture": None}, "architecture"),
        ({"architecture": {**SpeakerEncoderConfig().to_dict(), "hidden_size": 128}}, "shape"),
        ({"architecture": {**SpeakerEncoderConfig().to_dict(), "hidden_size": 10**9}}, "hidden_size"),
        ({"architecture": {**SpeakerEncoderConfig().to_dict(), "layers": 3}}, "unknown architecture keys"),
    ],
)
def test_refuses_bad_header(tmp_path, change, message):
    path = _write_copy(tmp_path / "header.safetensors", header={**_bundled_header(), **change})
    with pytest.raises(TurnpointError, match=message):
        read_speaker_encoder(path)


def test_refuses_pickles_and_other_files(tmp_path):
    pickled = tmp_path / "pretrained.pt"
    torch.save({"model_state": load_speaker_encoder().state_dict()}, pickled)
    with pytest.raises(TurnpointError, match="pickle"):
        read_speaker_encoder(pickled)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(TurnpointError, match="not a safetensors file"):
        read_speaker_encoder(garbage)
    bare = tmp_path / "bare.safetensors"
    save_file({"x": torch.zeros(2)}, str(bare))
    with pytest.raises(TurnpointError, match="without a turnpoint header"):
        read_speaker_encoder(bare)
    with pytest.raises(TurnpointError, match="no such"):
        read_speaker_encoder(tmp_path / "absent.safetensors")


def test_save_and_read_small_encoder(tmp_path):
    config = SpeakerEncoderConfig(hidden_size=16, num_layers=2, embedding_size=8)
    torch.manual_seed(0)
    encoder = SpeakerEncoder(config)
    path = save_speaker_encoder(tmp_path / "small.safetensors", encoder=encoder, dtype=torch.float32, source="test")
    loaded = read_speaker_encoder(path)
    assert loaded.config == config
    x = torch.rand(3, 20, 40)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), encoder(x))


def test_runs_without_resemblyzer_librosa_or_webrtcvad():
    code = (
        "import sys\n"
        "for name in ('resemblyzer', 'librosa', 'webrtcvad'): sys.modules[name] = None\n"
        "import numpy as np, torch\n"
        "torch.set_num_threads(1)\n"
        "from turnpoint.changes.speaker_encoder import embed_segments, mel_frames, normalize_volume\n"
        "x = normalize_volume(np.random.default_rng(0).normal(size=16000).astype(np.float32))\n"
        "print(embed_segments([mel_frames(x)]).shape)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(1, 256)"
