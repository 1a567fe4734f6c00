"""Model files: safetensors + JSON header, strict loading, no pickles ever."""

import json
import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import save

from turnpoint.core.errors import TurnpointError
from turnpoint.changes.model import SpeakerChangeConfig, SpeakerChangeDetector
from turnpoint.changes.modelfile import Defaults, load_model, read_header, save_model
from turnpoint.core.task import Specifications


def _saved(tmp_path, **kwargs):
    torch.manual_seed(0)
    model = SpeakerChangeDetector(SpeakerChangeConfig())
    path = save_model(tmp_path / "m.safetensors", model=model, specifications=Specifications(), **kwargs)
    return model, path


def test_round_trip_keeps_weights_and_settings(tmp_path):
    model, path = _saved(tmp_path, defaults=Defaults(alpha=0.3, min_duration=0.8), training={"hours": 1.5})
    loaded = load_model(path)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[key], value)
    assert loaded.defaults == Defaults(alpha=0.3, min_duration=0.8)
    assert loaded.training == {"hours": 1.5}
    header = read_header(path)
    assert header["architecture"]["lstm_hidden"] == [32, 20]
    assert header["specifications"]["features"]["step_duration"] == 0.016


class _Payload:
    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_pickle_payload_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    payload = _Payload()
    payload.marker = marker
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps({"weights": payload}))
    with pytest.raises(TurnpointError, match="pickle"):
        load_model(evil)
    torch.save({"a": torch.zeros(1)}, tmp_path / "ckpt.pt")
    with pytest.raises(TurnpointError, match="pickle"):
        load_model(tmp_path / "ckpt.pt")
    assert not marker.exists()


def test_wrong_shapes_are_refused(tmp_path):
    _, good = _saved(tmp_path)
    metadata = {"turnpoint": json.dumps(read_header(good))}
    small = SpeakerChangeDetector(SpeakerChangeConfig(lstm_hidden=(16, 20)))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(save({k: v.contiguous() for k, v in small.state_dict().items()}, metadata=metadata))
    with pytest.raises(TurnpointError, match="shape") as error:
        load_model(bad)
    assert str(bad) in str(error.value)


def test_missing_tensor_is_refused(tmp_path):
    model, good = _saved(tmp_path)
    tensors = {k: v.contiguous() for k, v in model.state_dict().items() if k != "output.bias"}
    bad = tmp_path / "missing.safetensors"
    bad.write_bytes(save(tensors, metadata={"turnpoint": json.dumps(read_header(good))}))
    with pytest.raises(TurnpointError, match="missing"):
        load_model(bad)


@pytest.mark.parametrize(
    "change,match",
    [({"format_version": 99}, "version"), ({"format": "other"}, "not a turnpoint model"), ({"architecture": None}, "architecture")],
)
def test_bad_headers_are_refused(tmp_path, change, match):
    model, good = _saved(tmp_path)
    header = read_header(good)
    header.update(change)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(save({k: v.contiguous() for k, v in model.state_dict().items()}, metadata={"turnpoint": json.dumps(header)}))
    with pytest.raises(TurnpointError, match=match):
        load_model(bad)


def test_garbage_truncated_and_missing_files(tmp_path):
    with pytest.raises(TurnpointError, match="no such"):
        load_model(tmp_path / "nope.safetensors")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(TurnpointError):
        load_model(garbage)
    _, good = _saved(tmp_path)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:-500])
    with pytest.raises(TurnpointError):
        load_model(truncated)


def test_written_files_get_normal_permissions(tmp_path):
    import os
    import stat

    _, path = _saved(tmp_path)
    mode = stat.S_IMODE(os.stat(path).st_mode)
    mask = os.umask(0)
    os.umask(mask)
    assert mode == 0o666 & ~mask


def test_rescoring_defaults_round_trip_and_set_the_format_version(tmp_path):
    from turnpoint.changes.rescoring import RescoringSettings

    shipped = RescoringSettings(threshold=0.42, contexts=(1.6, 2.4), bilstm_weight=0.1, candidate_spacing=0.3)
    _, plain = _saved(tmp_path)
    assert read_header(plain)["format_version"] == 1  # readable by turnpoint versions without re-scoring
    hybrid = save_model(tmp_path / "h.safetensors", model=SpeakerChangeDetector(SpeakerChangeConfig()),
                        specifications=Specifications(), defaults=Defaults(alpha=0.3, rescoring=shipped))
    assert read_header(hybrid)["format_version"] == 2
    assert load_model(hybrid).defaults == Defaults(alpha=0.3, rescoring=shipped)
    assert load_model(hybrid).describe()["defaults"]["rescoring"]["contexts"] == [1.6, 2.4]


def _scorer_settings():
    from turnpoint.changes.candidate_scorer import fit_candidate_scorer
    from turnpoint.changes.rescoring import RescoringSettings

    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 7))  # 2 contexts + 5 extra features
    scorer = fit_candidate_scorer(features, (features[:, 0] > 0).astype(np.float32), hidden=(4,), epochs=20)
    return RescoringSettings(threshold=0.5, contexts=(1.6, 2.4), scorer=scorer), features


def test_a_learned_candidate_scorer_round_trips_exactly(tmp_path):
    shipped, features = _scorer_settings()
    hybrid = save_model(tmp_path / "h.safetensors", model=SpeakerChangeDetector(SpeakerChangeConfig()),
                        specifications=Specifications(), defaults=Defaults(rescoring=shipped))
    loaded = load_model(hybrid).defaults.rescoring
    assert loaded == shipped
    np.testing.assert_array_equal(loaded.scorer(features), shipped.scorer(features))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["weights"][0].pop(), "layer 0 has the wrong shape"),
        (lambda s: s["mean"].append(0.0), "one positive scale per feature"),
        (lambda s: (s["weights"][1].append(s["weights"][1][0]), s["biases"][1].append(0.0)), "single output"),
        (lambda s: s.update(biases=s["biases"][:1]), "as many bias vectors"),
        (lambda s: s["scale"].__setitem__(0, -1.0), "scale"),
    ],
)
def test_a_malformed_candidate_scorer_is_refused_naming_the_file(tmp_path, change, message):
    shipped, _ = _scorer_settings()
    _, good = _saved(tmp_path)
    config = read_header(good)
    config["format_version"] = 2
    config["defaults"]["rescoring"] = shipped.to_dict()
    change(config["defaults"]["rescoring"]["scorer"])
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(save(SpeakerChangeDetector(SpeakerChangeConfig()).state_dict(), metadata={"turnpoint": json.dumps(config)}))
    with pytest.raises(TurnpointError, match=message) as caught:
        load_model(bad)
    assert "bad.safetensors" in str(caught.value)


def test_a_scorer_for_other_contexts_is_refused():
    from turnpoint.changes.rescoring import RescoringSettings

    shipped, _ = _scorer_settings()
    with pytest.raises(ValueError, match="takes 7 features"):
        RescoringSettings(contexts=(2.4,), scorer=shipped.scorer)


@pytest.mark.parametrize(
    ("rescoring", "message"),
    [({"contexts": [0.1]}, "0.1 is below"), ({"method": "xvector"}, "method"), ({"contexts": []}, "contexts"), ({"extra": 1}, "extra")],
)
def test_bad_rescoring_defaults_are_refused_naming_the_file(tmp_path, rescoring, message):
    from turnpoint.changes.rescoring import RescoringSettings

    _, good = _saved(tmp_path)
    config = read_header(good)
    config["format_version"] = 2
    config["defaults"]["rescoring"] = dict(RescoringSettings().to_dict(), **rescoring)
    model = SpeakerChangeDetector(SpeakerChangeConfig())
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(save(model.state_dict(), metadata={"turnpoint": json.dumps(config)}))
    with pytest.raises(TurnpointError, match=message) as caught:
        load_model(bad)
    assert "bad.safetensors" in str(caught.value)


def test_the_core_file_format_imports_no_task():
    import subprocess
    import sys

    code = ("import sys, turnpoint.core.modelfile, turnpoint.core.header_schema; "
            "print(sorted(m for m in sys.modules if m.startswith(('turnpoint.changes', 'turnpoint.events', 'turnpoint.cli'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
