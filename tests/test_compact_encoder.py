"""The compact speaker encoder: streaming = whole file, onnxruntime = torch, the model file's checks, and
that it tells voices apart."""

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from synth import VOICES, _syllables

from turnpoint.changes.compact_encoder import (
    FORMAT_VERSION,
    CompactEncoder,
    CompactEncoderConfig,
    bundled_compact_encoder_path,
    load_compact_encoder,
    read_compact_encoder,
    read_compact_header,
    save_compact_encoder,
)
from turnpoint.changes.compact_onnx import make_runner, max_onnx_difference
from turnpoint.changes.ge2e_teacher import Ge2eStream, teacher_embeddings
from turnpoint.changes.streaming_embeddings import CompactEncoderStream, embed_stream, embed_whole
from turnpoint.core.errors import TurnpointError
from turnpoint.core.modelfile import METADATA_KEY

RATE = 16000


def _voice(seconds: float, index: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    f0, decay = VOICES[index]
    return _syllables(seconds, f0, decay, rng) + (0.002 * rng.normal(size=int(seconds * RATE))).astype(np.float32)


@pytest.fixture(scope="module")
def conversation() -> np.ndarray:
    # an odd length: the last frame and the last embedding fall at no block boundary
    parts = [_voice(2.3, 0, 1), np.zeros(3000, dtype=np.float32), _voice(3.1, 1, 2), _voice(1.7, 2, 3)]
    return np.concatenate(parts)[:-77]


@pytest.fixture(scope="module")
def encoder() -> CompactEncoder:
    return load_compact_encoder()


@pytest.mark.parametrize("block_seconds", [0.003, 0.05, 0.37, 1.0, 2.9, 100.0])
def test_streaming_equals_whole_file(conversation, encoder, block_seconds):
    times, whole = embed_whole(conversation, encoder=encoder)
    streamed_times, streamed = embed_stream(conversation, encoder=encoder, block_seconds=block_seconds, backend="torch")
    np.testing.assert_array_equal(streamed_times, times)
    np.testing.assert_allclose(streamed, whole, atol=1e-5)


def test_irregular_blocks_and_empty_blocks(conversation, encoder):
    rng = np.random.default_rng(0)
    cuts = np.sort(rng.integers(0, len(conversation), size=40))
    blocks = np.split(conversation, cuts)  # includes empty blocks where cuts repeat
    times, streamed = embed_stream(iter(blocks), encoder=encoder, backend="torch")
    np.testing.assert_allclose(streamed, embed_whole(conversation, encoder=encoder)[1], atol=1e-5)
    assert len(times) == int(len(conversation) / RATE / encoder.config.hop) + 1


def test_memory_stays_bounded(encoder):
    # a long stream pushed block by block keeps only about one receptive field of features
    stream = CompactEncoderStream(encoder=encoder, backend="torch")
    rng = np.random.default_rng(1)
    for _ in range(30):
        stream.push((0.05 * rng.normal(size=RATE)).astype(np.float32))
        assert len(stream._features) <= encoder.config.receptive_frames + 2 * encoder.config.stride_frames + RATE // 256
    stream.finish()


def test_times_cover_the_file_and_hop_subsamples(conversation, encoder):
    hop = encoder.config.hop
    times, e = embed_stream(conversation, encoder=encoder, backend="torch")
    duration = len(conversation) / RATE
    assert times[0] == 0.0 and times[-1] <= duration < times[-1] + hop
    np.testing.assert_allclose(np.diff(times), hop, atol=1e-9)
    times2, e2 = embed_stream(conversation, encoder=encoder, hop=2 * hop, backend="torch", block_seconds=0.7)
    np.testing.assert_array_equal(times2, times[::2])
    np.testing.assert_allclose(e2, e[::2], atol=1e-5)
    with pytest.raises(ValueError, match="multiple"):
        embed_stream(conversation, encoder=encoder, hop=1.5 * hop)


def test_onnx_equals_torch(conversation, encoder):
    pytest.importorskip("onnxruntime")
    _, by_torch = embed_stream(conversation, encoder=encoder, backend="torch")
    _, by_onnx = embed_stream(conversation, encoder=encoder, backend="onnx")
    assert np.abs(by_onnx - by_torch).max() <= 1e-4
    assert max_onnx_difference(make_runner(encoder, "onnx"), encoder, seed=3) <= 1e-4


def test_ge2e_stream_matches_teacher_at_the_same_times(conversation, encoder):
    times, _ = embed_stream(conversation, encoder=encoder, backend="torch")
    subset = conversation[: 3 * RATE]
    t_ge2e, e_ge2e = embed_stream(subset, encoder="ge2e", block_seconds=0.41)
    np.testing.assert_array_equal(t_ge2e, times[: len(t_ge2e)])
    np.testing.assert_allclose(e_ge2e, teacher_embeddings(subset, t_ge2e), atol=1e-5)
    # windows are scaled to one level: the teacher does not depend on the recording's gain
    np.testing.assert_allclose(teacher_embeddings(0.1 * subset, t_ge2e), e_ge2e, atol=1e-4)
    stream = Ge2eStream(hop=0.5)
    assert len(stream.push(subset[:100])[0]) == 0  # no window complete yet


def _within_between(embed) -> tuple[float, float]:
    a = np.concatenate([_voice(3.0, 0, 10), _voice(3.0, 0, 11)])  # one voice, two recordings
    b = _voice(3.0, 3, 12)
    ea, eb = embed(a), embed(b)
    first, second = ea[: len(ea) // 2], ea[len(ea) // 2 :]
    within = float(np.mean(first @ second.T))
    between = float(np.mean(ea @ eb.T))
    return within, between


def test_two_different_voices_differ_more_than_one_voice_with_itself(encoder):
    def embed(x):
        times, e = embed_stream(x, encoder=encoder, backend="torch")
        inside = (times >= 0.6) & (times <= len(x) / RATE - 0.6)  # whole windows of the voice only
        return e[inside]

    within, between = _within_between(embed)
    assert within > between
    # and the teacher agrees on which pair is closer
    t_within, t_between = _within_between(lambda x: teacher_embeddings(x, np.arange(0.6, len(x) / RATE - 0.6, 0.192)))
    assert t_within > t_between


def test_embeddings_are_unit_vectors_and_level_robust(conversation, encoder):
    _, loud = embed_stream(conversation, encoder=encoder, backend="torch")
    _, quiet = embed_stream(0.1 * conversation, encoder=encoder, backend="torch")
    np.testing.assert_allclose(np.linalg.norm(loud, axis=1), 1.0, atol=1e-5)
    # the student was trained with random gains against a level-normalised teacher
    assert float(np.median(np.sum(loud * quiet, axis=1))) > 0.9


def test_shipped_file_header_records_its_config(encoder):
    header = read_compact_header(bundled_compact_encoder_path())
    assert header["format"] == "turnpoint-compact-encoder" and header["format_version"] == FORMAT_VERSION
    assert CompactEncoderConfig.from_dict(header["architecture"]) == encoder.config
    training = header["training"]
    assert training["teacher"] == "ge2e"
    assert training["data"]["voice_packages"] and len(training["data"]["heldout_packages"]) >= 1
    assert not set(training["data"]["voice_packages"]) & set(training["data"]["heldout_packages"])
    text = json.dumps(header)
    assert "/" + "work/" not in text and "/home/" not in text and "/" + "tmp/" not in text
    assert bundled_compact_encoder_path().stat().st_size < 1_000_000


def test_shipped_file_records_its_heldout_evaluation_on_packages_it_never_heard():
    training = read_compact_header(bundled_compact_encoder_path())["training"]
    evaluation = training["heldout_evaluation"]
    assert evaluation["heldout_packages"] == sorted(training["data"]["heldout_packages"])
    assert not set(evaluation["heldout_packages"]) & set(training["data"]["voice_packages"])
    pairs = evaluation["pairs"]
    for side in ("teacher", "student"):  # both encoders on the same pairs, side by side
        assert 0.5 < pairs[side]["auc"] <= 1 and 0 <= pairs[side]["eer"] < 0.5
    # the people of the settings' selection set were kept out of distillation
    assert training["data"]["excluded_people"]


def _rewrite(source, target, *, header=None, tensors=None):
    with safe_open(str(source), framework="pt") as handle:
        metadata = dict(handle.metadata())
    stored = json.loads(metadata[METADATA_KEY])
    if header:
        header(stored)
    values = load_file(str(source))
    if tensors:
        tensors(values)
    save_file(values, str(target), metadata={METADATA_KEY: json.dumps(stored)})
    return target


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda h: h["architecture"].update(channels=[32, 96, 96]), "shape"),
        (lambda h: h["architecture"].update(frame_size=64), "shape"),
        (lambda h: h.update(format_version=FORMAT_VERSION + 1), "format version"),
        (lambda h: h.update(format="turnpoint-speaker-encoder"), "not a turnpoint compact encoder"),
        (lambda h: h["architecture"].update(hop_frames=0), "invalid compact encoder architecture"),
        (lambda h: h["architecture"].update(unknown_key=1), "invalid compact encoder architecture"),
        (lambda h: h.pop("architecture"), "architecture"),
    ],
)
def test_a_tampered_header_is_refused(tmp_path, edit, message):
    path = _rewrite(bundled_compact_encoder_path(), tmp_path / "tampered.safetensors", header=edit)
    with pytest.raises(TurnpointError, match=message) as error:
        read_compact_encoder(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_bad_weights_and_bad_files_are_refused(tmp_path):
    def poison(values):
        values["frame.weight"][0, 0, 0] = float("nan")

    with pytest.raises(TurnpointError, match="NaN"):
        read_compact_encoder(_rewrite(bundled_compact_encoder_path(), tmp_path / "nan.safetensors", tensors=poison))
    with pytest.raises(TurnpointError, match="missing"):
        read_compact_encoder(_rewrite(bundled_compact_encoder_path(), tmp_path / "drop.safetensors", tensors=lambda v: v.pop("frame.bias")))
    pickled = tmp_path / "model.safetensors"
    torch.save({"a": torch.zeros(2)}, pickled)
    with pytest.raises(TurnpointError, match="pickle"):
        read_compact_encoder(pickled)
    with pytest.raises(TurnpointError, match="no such"):
        read_compact_encoder(tmp_path / "absent.safetensors")
    with pytest.raises(TurnpointError, match="no such"):
        embed_stream(tmp_path / "absent.wav")


def test_save_and_read_round_trip(tmp_path):
    config = CompactEncoderConfig(channels=(8, 8), kernels=(5, 3), dilations=(1, 2), frame_size=8, head_size=0, embedding_size=16)
    torch.manual_seed(0)
    model = CompactEncoder(config).eval()
    path = save_compact_encoder(tmp_path / "small.safetensors", encoder=model, dtype=torch.float32, training={"note": "test"})
    loaded = read_compact_encoder(path)
    assert loaded.config == config and read_compact_header(path)["training"] == {"note": "test"}
    x = torch.randn(1, config.receptive_frames + 3 * config.stride_frames, config.n_mels)
    torch.testing.assert_close(loaded(x), model(x))


def test_empty_input_is_an_error(encoder):
    with pytest.raises(ValueError, match="no samples"):
        embed_stream(np.zeros(0, dtype=np.float32), encoder=encoder, backend="torch")
    with pytest.raises(ValueError, match="no samples"):
        embed_stream(np.zeros(0, dtype=np.float32), encoder="ge2e")
