"""The conversation simulator: exact references, reproducibility, no digital silence."""

import json

import numpy as np
import soundfile as sf

from synth import VOICES, _syllables
from turnpoint.changes.annotations import read_rttm, read_uem
from turnpoint.changes.simulate import SimulationConfig, simulate_conversations


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
    from turnpoint.cli.main import main
    from turnpoint.changes.training_data import collect_files

    voices = _pool(tmp_path / "voices")
    code = main(["simulate", str(voices), "--out", str(tmp_path / "sim"), "--conversations", "2", "--min-duration", "15", "--max-duration", "20", "--seed", "1"])
    assert code == 0
    assert "2 conversations" in capsys.readouterr().out
    files = collect_files(tmp_path / "sim")
    assert len(files) == 2 and all(f.annotated for f in files)
    assert main(["simulate", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 1
    assert "nowhere" in capsys.readouterr().err
    assert main(["simulate", str(voices), "--out", str(tmp_path / "y"), "--reverb", "1.5"]) == 1
    assert "--reverb is a probability" in capsys.readouterr().err and not (tmp_path / "y").exists()
    assert main(["simulate", str(voices), "--out", str(tmp_path / "rooms"), "--conversations", "1", "--min-duration", "15",
                 "--max-duration", "15", "--reverb", "1", "--channel-variation", "1"]) == 0
    info = json.loads((tmp_path / "rooms" / "conversations.jsonl").read_text())
    assert info["reverberant_speakers"] == info["varied_speakers"] == info["speakers"]


TONES = {"low": 500.0, "mid": 1000.0, "high": 2000.0}  # one pure tone per speaker: activity is measurable


def _tone_pool(root, *, short_clip=False):
    rng = np.random.default_rng(1)
    for name, frequency in TONES.items():
        folder = root / name
        folder.mkdir(parents=True)
        for clip in range(5):
            n = int(16000 * rng.uniform(0.6, 1.4))
            sf.write(folder / f"c{clip}.wav", (0.3 * np.sin(2 * np.pi * frequency * np.arange(n) / 16000)).astype(np.float32), 16000)
        if short_clip:  # too short to be used: the simulator must skip it without moving a turn's start
            sf.write(folder / "short.wav", np.full(1600, 0.1, dtype=np.float32), 16000)
    return root


def _tone_activity(audio, frequency, *, hop=160):
    """Frames (10 ms) where the tone at ``frequency`` stands clearly above the background."""
    frames = audio[: len(audio) // hop * hop].reshape(-1, hop) * np.hanning(hop)
    spectrum = np.abs(np.fft.rfft(frames, n=1600, axis=1))  # 10 Hz bins
    band = spectrum[:, int(frequency / 10) - 3 : int(frequency / 10) + 4].max(axis=1)
    return band > 0.1 * np.percentile(band, 99)


def _covered(spans, n_frames, *, hop=160, pad=0.0):
    mask = np.zeros(n_frames, dtype=bool)
    for start, end in spans:
        mask[max(0, int((start - pad) * 16000 / hop)) : int(np.ceil((end + pad) * 16000 / hop))] = True
    return mask


def test_references_match_where_the_clips_were_placed_with_overlaps_and_same_speaker_joins(tmp_path):
    from turnpoint.changes.simulate import simulate_conversation
    from turnpoint.changes.voice_pool import load_voice_pool

    pool = load_voice_pool(_tone_pool(tmp_path / "voices", short_clip=True))
    config = SimulationConfig(n_speakers_p=(0.0, 1.0), overlap_p=0.3, clips_per_turn_p=(0.3, 0.4, 0.3), snr_db=(30.0, 30.0),
                              hum_p=0.0, music_p=0.0, telephone_p=0.0, reverb_p=1.0, channel_variation_p=1.0)
    overlaps = joins = 0
    for seed in range(3):
        audio, turns, info = simulate_conversation(pool, 40.0, np.random.default_rng(seed), config)
        assert sorted(info["reverberant_speakers"]) == sorted(info["speakers"]) == sorted(info["varied_speakers"])
        clips = info["clips"]
        # Every turn is exactly the span of its clips: consecutive clips of one speaker.
        for start, end, speaker in turns:
            inside = [c for c in clips if start - 1e-3 <= c[0] and c[1] <= end + 1e-3]
            assert inside and {c[2] for c in inside} == {speaker}
            assert abs(inside[0][0] - start) < 1e-3 and abs(max(c[1] for c in inside) - end) < 1e-3
            joins += len(inside) > 1
        assert sum(len([c for c in clips if s - 1e-3 <= c[0] and c[1] <= e + 1e-3]) for s, e, _ in turns) == len(clips)
        overlaps += sum(b[0] < a[1] for a, b in zip(turns, turns[1:]))
        # And the waveform agrees: each speaker's tone sounds inside its clips, never outside its turns.
        n_frames = len(audio) // 160
        for speaker, frequency in TONES.items():
            if speaker not in info["speakers"]:
                continue
            active = _tone_activity(audio, frequency)
            in_turns = _covered([(s, e) for s, e, who in turns if who == speaker], n_frames, pad=0.03)
            assert not (active & ~in_turns).any(), f"{speaker} sounds outside its reference turns"
            in_clips = _covered([(s + 0.04, e - 0.04) for s, e, who in clips if who == speaker], n_frames)
            assert active[in_clips].mean() > 0.97
            pauses = in_turns & ~_covered([(s, e) for s, e, who in clips if who == speaker], n_frames, pad=0.03)
            assert not active[pauses].any()  # pauses inside a turn are pauses in the audio too
    assert overlaps > 0 and joins > 0  # both cases were exercised


def test_rooms_decay_as_drawn_and_variation_is_off_by_default(tmp_path):
    from turnpoint.changes.channels import random_room

    h = random_room(np.random.default_rng(2), rt60_s=(0.4, 0.4), drr_db=(3.0, 3.0))
    energy = np.cumsum(h[::-1] ** 2)[::-1]  # Schroeder backward integral of the tail
    decay_db = 10 * np.log10(energy[int(0.2 * 16000)] / energy[1])
    assert -33 < decay_db < -27  # -60 dB per 0.4 s: -30 dB at 0.2 s
    voices = _pool(tmp_path / "voices")
    info = simulate_conversations(voices, tmp_path / "plain", speakers=["voice0", "voice1"], n_conversations=1, duration_s=(15, 15), seed=0)[0]
    assert info["reverberant_speakers"] == [] and info["varied_speakers"] == []


# --- the realistic style: measured turn taking -----------------------------------------------

WORD_TONES = {"w500": 500.0, "w1100": 1100.0, "w2000": 2000.0, "w3100": 3100.0}


def _word_pool(root):
    """Tone "voices" whose clips are words: tone bursts (0.15-0.4 s) with silent gaps, 0.3-4 s long."""
    rng = np.random.default_rng(7)
    for name, frequency in WORD_TONES.items():
        folder = root / name
        folder.mkdir(parents=True)
        for clip in range(12):
            parts, total = [], float(rng.uniform(0.3, 4.0))
            while sum(len(p) for p in parts) < total * 16000:
                n = int(16000 * rng.uniform(0.15, 0.4))
                ramp = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / 160)  # 10 ms: no clicks
                parts.append((0.3 * ramp * np.sin(2 * np.pi * frequency * np.arange(n) / 16000)).astype(np.float32))
                parts.append(np.zeros(int(16000 * rng.uniform(0.05, 0.1)), dtype=np.float32))
            sf.write(folder / f"c{clip}.wav", np.concatenate(parts[:-1]), 16000)
    return root


def _pooled_stats(root, folder, config, *, n=12, seed=11):
    from turnpoint.changes.turn_taking import turn_statistics

    infos = simulate_conversations(root, folder, speakers=sorted(WORD_TONES), n_conversations=n, duration_s=(60, 90), seed=seed,
                                   config=config)
    files = {}
    for info in infos:
        files.update(read_rttm(folder / f"{info['uri']}.rttm"))
    return turn_statistics(files), infos


def test_real_style_statistics_come_out_near_the_measured_ones(tmp_path):
    from turnpoint.changes.turn_taking import load_turn_statistics

    voices = _word_pool(tmp_path / "voices")
    target = load_turn_statistics()["meeting"]
    quiet = dict(hum_p=0.0, music_p=0.0, telephone_p=0.0)
    real, infos = _pooled_stats(voices, tmp_path / "real", SimulationConfig(style="real", profile_p=(("meeting", 1.0),), **quiet))
    assert {info["profile"] for info in infos} == {"meeting"} and {len(info["speakers"]) for info in infos} <= {2, 3, 4}
    assert real["segment_s"]["n"] > 200
    # turns under 1 s, overlaps and backchannels as common as in the real meetings
    assert abs(real["short_segment_share"] - target["short_segment_share"]) < 0.1
    assert abs(real["short_change_interval_share"] - target["short_change_interval_share"]) < 0.1
    assert abs(real["overlap_transition_share"] - target["overlap_transition_share"]) < 0.12
    assert 0.5 < real["overlap_rate"] / target["overlap_rate"] < 1.5
    assert 0.5 < real["backchannels_per_minute"] / target["backchannels_per_minute"] < 1.5
    for key in ("segment_s", "floor_transfer_s", "change_interval_s", "backchannel_s"):
        assert abs(real[key]["quantiles"]["0.50"] - target[key]["quantiles"]["0.50"]) < 0.35 * max(0.5, abs(target[key]["quantiles"]["0.50"])) + 0.1, key
    assert real["segments_per_turn"]["mean"] > 1.2  # turns of several segments: pauses that are not changes
    # the older style, on the same voices, has none of this: the comparison above can fail
    legacy, _ = _pooled_stats(voices, tmp_path / "legacy", SimulationConfig(**quiet), n=3)
    assert legacy["backchannels_per_minute"] == 0.0
    assert abs(legacy["short_change_interval_share"] - target["short_change_interval_share"]) > 0.15


def test_real_style_references_are_exact_with_overlaps_backchannels_and_pauses(tmp_path):
    from turnpoint.changes.simulate import simulate_conversation
    from turnpoint.changes.voice_pool import load_voice_pool
    from turnpoint.changes.turn_taking import conversation_events

    pool = load_voice_pool(_word_pool(tmp_path / "voices"))
    config = SimulationConfig(style="real", backchannel_scale=3.0, snr_db=(30.0, 30.0), hum_p=0.0, music_p=0.0, telephone_p=0.0,
                              n_speakers_p=(0.0, 0.0, 1.0))
    overlaps = backchannels = pauses = joins = 0
    for seed in range(2):
        audio, lines, info = simulate_conversation(pool, 60.0, np.random.default_rng(seed), config)
        assert info["style"] == "real" and len(info["speakers"]) == 4
        events = conversation_events(lines)
        overlaps += len(events["overlap_s"])
        backchannels += len(events["backchannel_s"])
        pauses += len(events["within_pause_s"])
        # a line is the span of the clips placed in it, one speaker, joined without pauses
        for start, end, speaker in lines:
            inside = [c for c in info["clips"] if c[2] == speaker and start - 1e-3 <= c[0] and c[1] <= end + 1e-3]
            assert inside and abs(inside[0][0] - start) < 1e-3 and abs(max(c[1] for c in inside) - end) < 1e-3
            joins += len(inside) > 1
        n_frames = len(audio) // 160
        for speaker in info["speakers"]:
            active = _tone_activity(audio, WORD_TONES[speaker])
            own = [(s, e) for s, e, who in lines if who == speaker]
            assert not (active & ~_covered(own, n_frames, pad=0.03)).any(), f"{speaker} sounds outside its lines"
            for s, e in own:  # and every line starts and ends with its speaker's sound
                assert active[int(s * 100) : int(s * 100) + 5].any() and active[int(e * 100) - 5 : int(e * 100)].any()
    assert overlaps > 0 and backchannels > 0 and pauses > 0 and joins > 0


def test_simulation_script_keeps_only_the_chosen_packages_and_lists_them(tmp_path):
    import importlib.util
    from pathlib import Path

    voices = _word_pool(tmp_path / "voices")
    rows = ["speaker\tkind\tperson\tpackage\tfamily\tidentity"]
    rows += ["w500\treal\tp1\tpkg-a\tfam-a\tcredited", "w1100\treal\tp2\tpkg-a\tfam-a\tcredited",
             "w2000\treal\tp3\tpkg-b\tfam-b\tcredited", "w3100\treal\tp4\tpkg-a\tfam-a\ttwo credited speakers (x and y)"]
    (voices / "manifest.tsv").write_text("\n".join(rows) + "\n")
    script = Path(__file__).resolve().parents[1] / "recipes" / "simulate_conversations.py"
    spec = importlib.util.spec_from_file_location("simulate_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "test_set"
    assert module.main(["--voices", str(voices), "--out", str(out), "--style", "real", "--conversations", "2", "--min-duration", "20",
                        "--max-duration", "25", "--packages", "pkg-a", "--hold-out"]) == 0
    used = {s for line in (out / "conversations.jsonl").read_text().splitlines() for s in json.loads(line)["speakers"]}
    assert used == {"w500", "w1100"}  # pkg-b is another package; w3100's folder mixes two people
    sources = (out / "SOURCES.md").read_text()
    assert "| pkg-a | fam-a | w1100 = p2, w500 = p1 |" in sources and "pkg-b" not in sources
    assert len(list(out.glob("*.rttm"))) == len(list(out.glob("*.uem"))) == 2


def test_fragments_are_cut_between_words():
    from turnpoint.changes.voice_pool import fragment_clip

    tone = (0.3 * np.sin(2 * np.pi * 700 * np.arange(4800) / 16000)).astype(np.float32)  # 0.3 s "words"
    gap = np.zeros(1600, dtype=np.float32)
    clip = np.concatenate([tone, gap, tone, gap, tone, gap, tone])
    for seed in range(5):
        piece = fragment_clip(clip, 0.7, np.random.default_rng(seed))
        # two words and the pause between them (trimmed): not a word cut in half
        assert abs(len(piece) - (2 * 4800 + 1600)) <= 160
    assert len(fragment_clip(tone, 0.5, np.random.default_rng(0))) == len(tone)  # shorter than asked: unchanged


def test_voice_preparation_helpers(tmp_path):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "recipes" / "prepare_voices.py"
    spec = importlib.util.spec_from_file_location("prepare_voices_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    copyright_file = tmp_path / "copyright"
    copyright_file.write_text("Format: x\n\nFiles: debian/*\nLicense: GPL-3\n\nFiles: *\nCopyright: someone\nLicense: GPL-2+\n")
    assert module.debian_licence(copyright_file) == "GPL-2+"
    assert module.debian_licence(tmp_path / "missing").startswith("unknown")
    assert module.family_of("asterisk-prompt-es-co") == module.family_of("asterisk-core-sounds-en-wav") == "asterisk prompts"
    assert module.RESERVED.search("fillets-ng-data-cs") and module.RESERVED.search("asterisk-core-sounds-ru-wav")
    assert not module.RESERVED.search("asterisk-core-sounds-fr-wav")
