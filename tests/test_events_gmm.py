"""The GMM baseline for sound events: its likelihoods are scikit-learn's, it trains, saves, detects and is refused where it does not fit."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from turnpoint.events.gmm import GMMEventConfig, GMMEventDetector
from turnpoint.events.gmm_training import GMMTrainingConfig, fit_gmm_detector
from turnpoint.events.simulate import MixtureConfig, simulate_mixtures

sklearn_mixture = pytest.importorskip("sklearn.mixture")
SR = 16000


def _frames(seed: int, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """Feature frames (129 columns) whose class-"a" frames differ in c1..c3 and their Δ, with their 0/1 targets."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 129)).astype(np.float32) * np.linspace(1, 3, 129, dtype=np.float32)
    y = np.zeros((n, 1), np.float32)
    y[: n // 4] = 1
    x[: n // 4, 1:4] += 3.0
    x[: n // 4, 65:68] -= 2.0
    return x, y


def test_log_likelihood_ratio_is_scikit_learns_for_the_same_mixtures():
    x, y = _frames(0)
    config = GMMTrainingConfig(components=3, seed=2)
    model = fit_gmm_detector([x], [y], classes=("a",), n_mfcc=64, config=config)
    columns = list(GMMEventConfig().feature_columns)
    z = (x[:, columns].astype(np.float64) - model.input_mean.numpy()) / model.input_scale.numpy()
    mixtures = []
    for mask in (y[:, 0] > 0.5, y[:, 0] < 0.5):  # fitted again the same way: EM from the same seed on the same frames
        mixture = sklearn_mixture.GaussianMixture(n_components=3, covariance_type="diag", reg_covar=1e-3, random_state=2, max_iter=config.max_iter)
        mixtures.append(mixture.fit(z[mask]))
    expected = mixtures[0].score_samples(z) - mixtures[1].score_samples(z)
    ours = model.log_likelihood_ratio(torch.from_numpy(x[None])).squeeze().double().numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-3)
    assert expected[: len(x) // 4].mean() > 2 > -2 > expected[len(x) // 4 :].mean()  # the ratio separates the classes


def test_logits_are_the_ratio_averaged_over_the_context_plus_the_prior_log_odds():
    x, y = _frames(1)
    for width in (1, 4, 7):
        model = fit_gmm_detector([x], [y], classes=("a",), n_mfcc=64, config=GMMTrainingConfig(components=2, context_frames=width))
        features = torch.from_numpy(x[None, :40])
        ratio = model.log_likelihood_ratio(features).squeeze().numpy()
        before, after = (width - 1) // 2, width // 2
        expected = np.array([ratio[max(0, t - before) : t + after + 1].mean() for t in range(40)]) + np.log(0.25 / 0.75)
        np.testing.assert_allclose(model(features).squeeze().numpy(), expected, rtol=1e-5, atol=1e-5)


def test_a_class_without_frames_to_fit_is_refused_in_one_line():
    from turnpoint.core.errors import TurnpointError

    x, y = _frames(2)
    with pytest.raises(TurnpointError, match="class 'a' needs at least two event frames"):
        fit_gmm_detector([x], [np.zeros_like(y)], classes=("a",), n_mfcc=64)


def _tone_data(root: Path, count: int, seed: int) -> Path:
    t = np.arange(int(0.5 * SR)) / SR
    sounds = {"beep": [(0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)],
              "burst": [(np.random.default_rng(5).normal(size=int(0.3 * SR)) * 0.3).astype(np.float32)]}
    config = MixtureConfig(duration=6.0, max_events=3, p_no_event=0.0, ebr_db=(6.0, 12.0), background_p=(0, 0, 1, 0))
    simulate_mixtures(root, count=count, sounds=sounds, speech=[], music=[], seed=seed, prefix=root.name, config=config)
    return root


def test_gmm_baseline_trains_detects_evaluates_and_is_refused_where_it_does_not_fit(tmp_path, capsys):
    from turnpoint.cli.main import main
    from turnpoint.events.detect import evaluate_events
    from turnpoint.events.modelfile import load_event_model

    train, val = _tone_data(tmp_path / "train", 6, 1), _tone_data(tmp_path / "val", 3, 2)
    out = tmp_path / "gmm"
    assert main(["--quiet", "train", "--task", "events", str(train), "--validation", str(val), "--out", str(out),
                 "--architecture", "gmm", "--gmm-components", "4"]) == 0
    path = out / "model.safetensors"
    loaded = load_event_model(path)
    assert isinstance(loaded.model, GMMEventDetector) and loaded.model.config.components == 4
    assert set(loaded.decode) == {"beep", "burst"} and loaded.training["validation_tuned"]["event_f1"] > 0.5
    choice = loaded.training["context_choice"]  # the context chosen on validation, as its decoding is
    assert sorted(map(int, choice)) == [1, 5, 15, 50] and choice[str(loaded.model.config.context_frames)] == max(choice.values())
    assert loaded.training["validation_tuned"]["event_f1"] == max(choice.values()) and sorted(p.name for p in out.iterdir()) == ["model.safetensors"]
    # a fixed context: no choice made, that width kept
    assert main(["--quiet", "train", "--task", "events", str(train), "--validation", str(val), "--out", str(tmp_path / "gmm5"),
                 "--architecture", "gmm", "--gmm-components", "4", "--gmm-context", "5"]) == 0
    fixed = load_event_model(tmp_path / "gmm5" / "model.safetensors")
    assert fixed.model.config.context_frames == 5 and list(fixed.training["context_choice"]) == ["5"]
    torch.testing.assert_close(fixed.model.means, loaded.model.means)  # the same mixtures, only the context differs
    # scored like the network: the same detection and evaluation code, on files it did not see
    test = _tone_data(tmp_path / "test", 3, 3)
    report = evaluate_events(sorted(test.glob("*.wav")), test / "events.tsv", model=path, with_psds=False)
    assert report["event_based"]["f1"] > 0.5 and report["segment_based"]["f1"] > 0.7
    capsys.readouterr()
    assert main(["summary", "--task", "events", "--model", str(path)]) == 0
    assert "event GMM and background GMM, 4 diagonal components" in capsys.readouterr().out
    # refusals, one line each
    failures = [
        (["train", "--task", "events", str(train), "--out", str(tmp_path / "x"), "--architecture", "gmm", "--mixup", "0.5"], "--mixup is for the CNN-LSTM"),
        (["train", "--task", "events", str(train), "--out", str(tmp_path / "x"), "--architecture", "gmm", "--features", "logmel"], "reads MFCC"),
        (["train", "--task", "events", str(train), "--out", str(out), "--architecture", "gmm"], "a model already exists here"),
        (["train", "--task", "events", str(train), "--out", str(tmp_path / "x"), "--gmm-components", "4"], "--gmm-components is for --architecture gmm"),
        (["train", "--task", "events", str(train), "--out", str(tmp_path / "x"), "--gmm-context", "5"], "--gmm-context is for --architecture gmm"),
        (["train", str(train), "--out", str(tmp_path / "x"), "--architecture", "gmm"], "--architecture is for --task events"),
        (["tune", "--task", "events", str(val), "--out", str(tmp_path / "e"), "--ensemble", str(path), str(path)], "this is a GMM baseline"),
    ]
    for args, message in failures:
        assert main(args) == 1, args
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    # a tampered header asking for a huge mixture is refused before anything is built
    data = path.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + size])
    meta = json.loads(header["__metadata__"]["turnpoint"])
    meta["architecture"]["components"] = 100000
    header["__metadata__"]["turnpoint"] = json.dumps(meta)
    raw = json.dumps(header).encode()
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + size :])
    assert main(["events", str(sorted(test.glob("*.wav"))[0]), "--model", str(bad), "--out", str(tmp_path / "o")]) == 1
    assert "architecture.components: 100000 is above the maximum 256" in capsys.readouterr().err
