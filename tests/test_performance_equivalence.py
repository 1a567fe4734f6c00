"""The fast paths change speed, never results: block size, batch size, prefetching, onnxruntime vs
torch, and one process vs many all give the same scores and outputs. No wall-clock assertions."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import turnpoint
from turnpoint.changes.batch import detect_files
from turnpoint.changes.scoring import ChangeAggregator, ChangeScores, change_inputs, change_runner, score_blocks, score_features
from turnpoint.core.runners import TorchRunner, max_difference
from turnpoint.core.features import extract_features
from turnpoint.changes.model import SpeakerChangeConfig, SpeakerChangeDetector
from turnpoint.changes.modelfile import load_model

TOL = 1e-5
EXAMPLE = Path(turnpoint.__file__).parent / "examples" / "two_speakers.flac"


@pytest.fixture(scope="module")
def loaded():
    return load_model(None)


@pytest.fixture(scope="module")
def audio():
    rng = np.random.default_rng(7)
    seconds = 47
    t = np.arange(seconds * 16000) / 16000
    f0 = np.where((t // 6.5) % 2 == 0, 120.0, 210.0)
    x = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / 16000) / k for k in range(1, 6)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
    return (0.1 * x + rng.normal(scale=0.01, size=len(t))).astype(np.float32)


@pytest.fixture(autouse=True)
def _private_onnx_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TURNPOINT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def _blocks(x, seconds):
    size = max(1, int(seconds * 16000))
    return (x[i : i + size] for i in range(0, len(x), size))


def _score(loaded, x, *, block=60.0, **options):
    return score_blocks(_blocks(x, block), model=loaded.model, specifications=loaded.specifications, **options).values


@pytest.mark.parametrize("block", [0.37, 3.2, 7.0, 1000.0])
def test_block_size_does_not_change_scores(loaded, audio, block):
    reference = _score(loaded, audio, block=60.0, backend="torch", prefetch=0)
    np.testing.assert_allclose(_score(loaded, audio, block=block, backend="torch"), reference, atol=TOL)


@pytest.mark.parametrize("batch", [1, 7, 64, 1024])
def test_batch_size_does_not_change_scores(loaded, audio, batch):
    reference = _score(loaded, audio, backend="torch", batch_size=128)
    np.testing.assert_allclose(_score(loaded, audio, backend="torch", batch_size=batch), reference, atol=TOL)


def test_prefetch_thread_gives_identical_scores(loaded, audio):
    a = _score(loaded, audio, block=2.3, backend="torch", prefetch=0)
    b = _score(loaded, audio, block=2.3, backend="torch", prefetch=3)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", ["torch", "auto"])
def test_batches_side_by_side_give_identical_scores(loaded, audio, backend):
    one = _score(loaded, audio, block=1000.0, backend=backend, model_workers=1, prefetch=0)
    two = _score(loaded, audio, block=1000.0, backend=backend, model_workers=2)  # 55 windows: split 28 + 27
    np.testing.assert_array_equal(one, two)
    split = _score(loaded, audio, block=1000.0, backend=backend, model_workers=3, batch_size=4)
    np.testing.assert_allclose(split, one, atol=TOL)


def test_prefetch_thread_hands_errors_to_the_caller(loaded):
    def broken():
        yield np.zeros(16000, dtype=np.float32)
        raise ValueError("decoder broke")

    with pytest.raises(ValueError, match="decoder broke"):
        score_blocks(broken(), model=loaded.model, specifications=loaded.specifications, backend="torch", prefetch=2)


def test_unknown_backend_is_refused(loaded):
    with pytest.raises(ValueError, match="backend"):
        change_runner(loaded.model, "tensorrt")


def test_auto_backend_is_torch_without_onnxruntime(loaded, monkeypatch):
    import turnpoint.core.runners as fast

    monkeypatch.setattr(fast, "onnxruntime_available", lambda: False)
    assert isinstance(change_runner(loaded.model, "auto"), TorchRunner)


class TestOnnxRuntime:
    @pytest.fixture(autouse=True)
    def _needs_onnxruntime(self):
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnx")

    def test_export_matches_torch_on_windows_of_any_length(self, loaded):
        runner = change_runner(loaded.model, "onnx")
        assert runner.name == "onnx"
        assert max_difference(runner, ChangeScores(loaded.model), change_inputs(loaded.model)) <= TOL
        rng = np.random.default_rng(1)
        for frames in (1, 9, 200, 731):  # dynamic time axis: one export for every length
            x = rng.normal(size=(3, frames, 35)).astype(np.float32) * loaded.model.input_scale.numpy() + loaded.model.input_mean.numpy()
            np.testing.assert_allclose(runner(x), TorchRunner(ChangeScores(loaded.model))(x), atol=TOL)

    def test_random_weights_too(self):
        torch.manual_seed(3)
        model = SpeakerChangeDetector(SpeakerChangeConfig()).eval()
        assert max_difference(change_runner(model, "onnx"), ChangeScores(model), change_inputs(model)) <= TOL

    def test_file_scores_onnx_equal_torch(self, loaded, audio):
        torch_scores = _score(loaded, audio, backend="torch")
        onnx_scores = _score(loaded, audio, backend="onnx", block=5.1, batch_size=33)
        np.testing.assert_allclose(onnx_scores, torch_scores, atol=TOL)

    def test_short_file_single_pass(self, loaded, audio):
        x = audio[: int(1.3 * 16000)]
        features = extract_features(x)
        assert len(features) < 200
        onnx_scores = _score(loaded, x, backend="onnx")
        expected = TorchRunner(ChangeScores(loaded.model))(features[None])[0]
        np.testing.assert_allclose(onnx_scores, expected, atol=TOL)

    def test_aggregator_with_onnx_equals_offline_torch(self, loaded, audio):
        features = extract_features(audio)
        offline = score_features(features, model=loaded.model, specifications=loaded.specifications)
        aggregator = ChangeAggregator(loaded.model, loaded.specifications, backend="onnx", batch_size=5)
        streamed = np.concatenate([*(aggregator.push(features[i : i + 311]) for i in range(0, len(features), 311)), aggregator.finish()])
        np.testing.assert_allclose(streamed, offline, atol=TOL)

    def test_export_is_cached_on_disk(self, loaded, tmp_path, monkeypatch):
        import turnpoint.core.runners as fast

        monkeypatch.setenv("TURNPOINT_CACHE", str(tmp_path))
        monkeypatch.setattr(fast, "_sessions", {})
        change_runner(loaded.model, "onnx")
        cached = list((tmp_path / "onnx").glob("*.onnx"))
        assert len(cached) == 1 and cached[0].stat().st_size > 10_000
        monkeypatch.setattr(fast, "_sessions", {})
        monkeypatch.setattr(fast, "export_onnx", lambda module, inputs: pytest.fail("exported again"))
        assert change_runner(loaded.model, "onnx").name == "onnx"


def _outputs(folder):
    found = {}
    for path in sorted(folder.iterdir()):
        if path.suffix == ".json":
            data = json.loads(path.read_text())
            found[path.name] = (data["changes"], data["segments"], data["n_frames"])
        else:
            found[path.name] = path.read_text()
    return found


def test_one_process_and_two_give_the_same_outputs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    example, rate = sf.read(EXAMPLE, dtype="float32")
    for index, start in enumerate((0.0, 3.3, 11.0)):  # the bundled two-voice example and two cuts of it
        sf.write(folder / f"f{index}.wav", example[int(start * rate) :], rate, subtype="FLOAT")
    one = detect_files([folder], out_dir=tmp_path / "one", jobs=1, show_progress=False, formats=("rttm", "json"))
    two = detect_files([folder], out_dir=tmp_path / "two", jobs=2, show_progress=False, formats=("rttm", "json"))
    assert not one.failures and not two.failures
    assert [r.changes for r in one.results] == [r.changes for r in two.results]
    assert _outputs(tmp_path / "one") == _outputs(tmp_path / "two")
    assert any(r.changes for r in one.results)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_gives_the_cpu_results():
    import turnpoint
    from turnpoint.events.detect import detect_events

    path = turnpoint.example_path()
    for name in ("paper", None):  # the BiLSTM alone; the hybrid (re-scoring and its second pass on the GPU too)
        cpu = turnpoint.detect_changes(path, model=turnpoint.load_model(name, device="cpu"))
        cuda = turnpoint.detect_changes(path, model=turnpoint.load_model(name, device="cuda"))
        np.testing.assert_allclose(cuda.scores.values, cpu.scores.values, atol=1e-4)
        np.testing.assert_allclose(cuda.changes, cpu.changes, atol=1e-6)
        if cpu.candidate_scores is not None:
            np.testing.assert_allclose(cuda.candidate_scores, cpu.candidate_scores, atol=1e-4)
    events = turnpoint.example_path().replace("two_speakers.flac", "events_example.flac")
    cpu_events, cuda_events = detect_events(events, device="cpu"), detect_events(events, device="cuda")
    np.testing.assert_allclose(cuda_events.scores, cpu_events.scores, atol=1e-4)
    assert cuda_events.events == cpu_events.events
