"""The conversation simulator: exact references, reproducibility, no digital silence."""

import numpy as np
import soundfile as sf

from synth import VOICES, _syllables
from turnpoint.annotations import read_rttm, read_uem
from turnpoint.simulate import SimulationConfig, simulate_conversations


def _pool(root):
    rng = np.random.default_rng(0)
    for index, (f0, decay) in enumerate(VOICES[:3]):
        folder = root / f"voice{index}"
        folder.mkdir(parents=True)
        for clip in range(6):
            sf.write(folder / f"c{clip}.wav", _syllables(float(rng.uniform(1.0, 2.5)), f0, decay, rng), 16000)
    return root


def test_conversations_are_exact_reproducible_and_never_silent(tmp_path):
    voices = _pool(tmp_path / "voices")
    speakers = ["voice0", "voice1", "voice2"]
    config = SimulationConfig(n_speakers_p=(0.5, 0.5))
    infos = simulate_conversations(voices, tmp_path / "a", speakers=speakers, n_conversations=2, duration_s=(20, 30), seed=3, config=config)
    simulate_conversations(voices, tmp_path / "b", speakers=speakers, n_conversations=2, duration_s=(20, 30), seed=3, config=config)
    for info in infos:
        uri = info["uri"]
        assert (tmp_path / "a" / f"{uri}.wav").read_bytes() == (tmp_path / "b" / f"{uri}.wav").read_bytes()
        audio, rate = sf.read(tmp_path / "a" / f"{uri}.wav")
        duration = len(audio) / rate
        turns = read_rttm(tmp_path / "a" / f"{uri}.rttm")[uri]
        assert len(turns) >= 3
        assert all(0 <= t.start < t.end <= duration + 1e-3 for t in turns)
        assert all(a.speaker != b.speaker for a, b in zip(turns, turns[1:]))
        assert read_uem(tmp_path / "a" / f"{uri}.uem")[uri] == [(0.0, round(duration, 3))]
        frames = audio[: len(audio) // 160 * 160].reshape(-1, 160)
        assert np.sqrt((frames**2).mean(axis=1)).min() > 1e-5  # a background everywhere
        for turn in turns:  # every turn holds speech: louder than the quietest background
            segment = audio[int(turn.start * rate) : int(turn.end * rate)]
            assert np.sqrt((segment**2).mean()) > 3 * np.sqrt((frames**2).mean(axis=1)).min()


def test_cli_simulate_then_train_reads_its_output(tmp_path, capsys):
    from turnpoint.cli import main
    from turnpoint.training import collect_files

    voices = _pool(tmp_path / "voices")
    code = main(["simulate", str(voices), "--out", str(tmp_path / "sim"), "--conversations", "2", "--min-duration", "15", "--max-duration", "20", "--seed", "1"])
    assert code == 0
    assert "2 conversations" in capsys.readouterr().out
    files = collect_files(tmp_path / "sim")
    assert len(files) == 2 and all(f.annotated for f in files)
    assert main(["simulate", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 1
    assert "nowhere" in capsys.readouterr().err
