"""Sliding-window inference: coverage, averaging, block/batch invariance, short files."""

import numpy as np
import pytest
import soundfile as sf
import torch

from turnpoint.core.features import extract_features
from turnpoint.changes.scoring import ChangeAggregator, score_features, score_file
from turnpoint.core.windows import window_starts
from turnpoint.changes.model import SpeakerChangeConfig, SpeakerChangeDetector
from turnpoint.core.task import Specifications


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return SpeakerChangeDetector(SpeakerChangeConfig()).eval()


def _naive(model, features, window=200, step=50):
    total = np.zeros(len(features))
    count = np.zeros(len(features))
    for start in window_starts(len(features), window=window, step=step):
        chunk = torch.from_numpy(features[None, start : start + window])
        total[start : start + chunk.shape[1]] += model.scores(chunk)[0].numpy()
        count[start : start + chunk.shape[1]] += 1
    assert count.min() >= 1
    return total / count


def test_window_starts_cover_every_frame():
    for n in [1, 199, 200, 201, 249, 250, 251, 1000, 1003]:
        starts = window_starts(n, window=200, step=50)
        covered = np.zeros(n, bool)
        for s in starts:
            covered[s : s + 200] = True
            assert s + min(200, n) <= n
        assert covered.all()
        assert starts == sorted(set(starts))


@pytest.mark.parametrize("n", [1, 37, 200, 201, 260, 999])
def test_aggregation_averages_overlapping_windows(model, n):
    features = np.random.default_rng(n).normal(size=(n, 35)).astype(np.float32)
    np.testing.assert_allclose(score_features(features, model=model, specifications=Specifications()), _naive(model, features), atol=1e-6)


@pytest.mark.parametrize("push,batch", [(1, 1), (17, 5), (200, 64), (333, 2)])
def test_streaming_and_batch_size_do_not_change_scores(model, push, batch):
    features = np.random.default_rng(0).normal(size=(1234, 35)).astype(np.float32)
    reference = score_features(features, model=model, specifications=Specifications(), batch_size=64)
    aggregator = ChangeAggregator(model, Specifications(), batch_size=batch)
    parts = [aggregator.push(features[i : i + push]) for i in range(0, len(features), push)]
    streamed = np.concatenate([*parts, aggregator.finish()])
    np.testing.assert_allclose(streamed, reference, atol=1e-6)


def test_file_shorter_than_one_window(model, tmp_path):
    x = np.random.default_rng(0).normal(scale=0.1, size=int(1.1 * 16000)).astype(np.float32)
    sf.write(tmp_path / "short.wav", x, 16000, subtype="FLOAT")
    scores = score_file(tmp_path / "short.wav", model=model, specifications=Specifications())
    features = extract_features(x)
    assert len(scores.values) == len(features) < 200
    expected = model.scores(torch.from_numpy(features[None]))[0].numpy()
    np.testing.assert_allclose(scores.values, expected, atol=1e-5)
    assert scores.duration == pytest.approx(1.1, abs=1e-3)


def test_long_file_same_scores_in_one_block_or_many(model, tmp_path):
    rng = np.random.default_rng(1)
    x = (rng.normal(scale=0.05, size=95 * 16000) * np.repeat(rng.uniform(0.2, 1, 95 * 8), 2000)).astype(np.float32)
    sf.write(tmp_path / "long.wav", x, 16000, subtype="FLOAT")
    one = score_file(tmp_path / "long.wav", model=model, specifications=Specifications(), block_duration=1000.0)
    many = score_file(tmp_path / "long.wav", model=model, specifications=Specifications(), block_duration=3.7)
    assert len(one.values) == len(many.values) == 1 + len(x) // 256
    np.testing.assert_allclose(one.values, many.values, atol=1e-5)
    offline = score_features(extract_features(x), model=model, specifications=Specifications())
    np.testing.assert_allclose(one.values, offline, atol=1e-5)
    np.testing.assert_allclose(one.times[:3], [0.0, 0.016, 0.032])
