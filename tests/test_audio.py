"""Audio in: soundfile formats, PyAV containers, rates, channels, block streaming and clear errors.

Every file is written by the test itself (a known sine or noise), then read back through
``load_audio`` / ``iter_audio`` / ``audio_info`` and checked for length and frequency content.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from turnpoint.core.audio import audio_info, iter_audio, load_audio
from turnpoint.core.errors import TurnpointError

av = pytest.importorskip("av")

OUT_RATE = 16000
FREQ = 440.0


def sine(rate: int, duration: float, freq: float = FREQ, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(rate * duration))) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_frequency(y: np.ndarray, rate: int = OUT_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.argmax(spectrum) * rate / len(y))


def sine_fit(y: np.ndarray, freq: float = FREQ, rate: int = OUT_RATE) -> tuple[float, float]:
    """(fraction of the energy explained by a ``freq`` sinusoid of any phase, its amplitude)."""
    t = np.arange(len(y)) / rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, y.astype(np.float64), rcond=None)
    fitted = basis @ coef
    return float(1 - np.sum((y - fitted) ** 2) / np.sum(y.astype(np.float64) ** 2)), float(np.hypot(*coef))


def middle(y: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """Drop the edges, where codecs and resamplers ramp in/out."""
    cut = int(margin * OUT_RATE)
    return y[cut:-cut]


def assert_is_sine(y: np.ndarray, amplitude: float = 0.5, tolerance: float = 0.05) -> None:
    assert y.dtype == np.float32 and y.ndim == 1
    assert np.all(np.isfinite(y))
    assert abs(dominant_frequency(y) - FREQ) < 2.0
    explained, fitted_amplitude = sine_fit(middle(y))
    assert explained > 0.99
    assert fitted_amplitude == pytest.approx(amplitude, abs=tolerance)


# ---------------------------------------------------------------- soundfile formats


SOUNDFILE_FORMATS = [
    ("pcm16.wav", {"format": "WAV", "subtype": "PCM_16"}),
    ("float.wav", {"format": "WAV", "subtype": "FLOAT"}),
    ("a.flac", {"format": "FLAC", "subtype": "PCM_16"}),
    ("a.ogg", {"format": "OGG", "subtype": "VORBIS"}),
    ("a.mp3", {"format": "MP3", "subtype": "MPEG_LAYER_III"}),
]


@pytest.mark.parametrize("name, options", SOUNDFILE_FORMATS, ids=[n for n, _ in SOUNDFILE_FORMATS])
def test_soundfile_formats_read_as_16k_mono(tmp_path: Path, name: str, options: dict) -> None:
    if options["format"] not in sf.available_formats():
        pytest.skip(f"libsndfile {sf.__libsndfile_version__} cannot write {options['format']}")
    rate, duration = 44100, 2.0
    x = sine(rate, duration)
    path = tmp_path / name
    try:
        sf.write(path, np.stack([x, x], axis=1), rate, **options)
    except (sf.LibsndfileError, ValueError, TypeError) as error:
        pytest.skip(f"libsndfile cannot write {name}: {error}")

    y = load_audio(path)
    if options["format"] == "MP3":  # the MP3 decoder keeps the encoder delay / padding
        assert abs(len(y) - duration * OUT_RATE) <= 0.06 * OUT_RATE
    else:
        assert abs(len(y) - duration * OUT_RATE) <= 1
    assert_is_sine(y)

    info = audio_info(path)
    assert (info.sample_rate, info.channels, info.backend) == (rate, 2, "soundfile")
    assert info.duration == pytest.approx(duration, abs=0.06)


def test_resampled_output_matches_direct_synthesis(tmp_path: Path) -> None:
    """44.1 kHz -> 16 kHz gives the same waveform as a sine synthesised at 16 kHz (phase included)."""
    path = tmp_path / "a.wav"
    sf.write(path, sine(44100, 1.0), 44100, subtype="FLOAT")
    y = load_audio(path)
    expected = sine(OUT_RATE, 1.0)
    assert len(y) == len(expected)
    assert np.corrcoef(middle(y), middle(expected))[0, 1] > 0.999
    assert np.max(np.abs(middle(y) - middle(expected))) < 0.01


def test_load_audio_at_another_rate(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    sf.write(path, sine(44100, 1.0), 44100, subtype="FLOAT")
    y = load_audio(path, sample_rate=8000)
    assert len(y) == 8000
    assert abs(dominant_frequency(y, 8000) - FREQ) < 2.0


# ---------------------------------------------------------------- PyAV containers


def write_av(
    path: Path,
    *,
    container_format: str,
    codec: str = "aac",
    rate: int = 44100,
    duration: float = 2.0,
    channels: np.ndarray | None = None,
    layout: str = "stereo",
    video: bool = False,
) -> None:
    """Encode ``channels`` (n_channels, samples) — by default a stereo 440 Hz sine — with PyAV."""
    if channels is None:
        x = sine(rate, duration)
        channels = np.stack([x, x])
    with av.open(str(path), "w", format=container_format) as container:
        if video:
            video_stream = container.add_stream("mpeg4", rate=10)
            video_stream.width = video_stream.height = 32
            video_stream.pix_fmt = "yuv420p"
        stream = container.add_stream(codec, rate=rate)
        stream.layout = layout
        for start in range(0, channels.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(channels[:, start : start + 1024]), format="fltp", layout=layout)
            frame.sample_rate = rate
            frame.pts = start
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        if video:
            for index in range(int(duration * 10)):
                picture = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 80, np.uint8), format="rgb24")
                picture.pts = index
                for packet in video_stream.encode(picture):
                    container.mux(packet)
            for packet in video_stream.encode(None):
                container.mux(packet)


CONTAINERS = [
    ("a.mp4", "mp4", False),
    ("av.mp4", "mp4", True),
    ("a.mkv", "matroska", False),
    ("a.ts", "mpegts", False),
    ("a.m4a", "ipod", False),
]


@pytest.mark.parametrize("name, container_format, video", CONTAINERS, ids=[c[0] for c in CONTAINERS])
def test_pyav_containers(tmp_path: Path, name: str, container_format: str, video: bool) -> None:
    path = tmp_path / name
    duration = 2.0
    write_av(path, container_format=container_format, video=video)
    with pytest.raises(sf.LibsndfileError):  # really a container only FFmpeg reads
        sf.info(str(path))

    y = load_audio(path)
    assert abs(len(y) / OUT_RATE - duration) <= 0.05  # AAC priming / padding
    assert_is_sine(y, tolerance=0.06)

    info = audio_info(path)
    assert info.backend == "pyav"
    assert (info.sample_rate, info.channels) == (44100, 2)
    assert info.duration is not None and abs(info.duration - duration) <= 0.05


def test_pyav_lossless_container_is_exact_length(tmp_path: Path) -> None:
    """FLAC in Matroska has no priming: exactly 2 s at 16 kHz, same as the soundfile path."""
    path = tmp_path / "a.mkv"
    write_av(path, container_format="matroska", codec="flac", rate=48000)
    y = load_audio(path)
    assert len(y) == 2 * OUT_RATE
    assert_is_sine(y, tolerance=0.01)


def test_video_without_audio_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "silent_film.mp4"
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for index in range(5):
            picture = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            picture.pts = index
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    with pytest.raises(TurnpointError, match="no audio stream") as caught:
        load_audio(path)
    assert str(path) in str(caught.value)
    with pytest.raises(TurnpointError, match="no audio stream"):
        audio_info(path)


# ---------------------------------------------------------------- rates and channels


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000, 96000])
def test_sample_rates(tmp_path: Path, rate: int) -> None:
    path = tmp_path / f"r{rate}.wav"
    duration = 1.5
    sf.write(path, sine(rate, duration), rate, subtype="FLOAT")
    y = load_audio(path)
    assert abs(len(y) - duration * OUT_RATE) <= 1
    assert_is_sine(y, tolerance=0.01)
    assert audio_info(path).sample_rate == rate


@pytest.mark.parametrize("n_channels", [1, 2, 6])
def test_channels_are_averaged_soundfile(tmp_path: Path, n_channels: int) -> None:
    rng = np.random.default_rng(n_channels)
    x = (rng.normal(size=(OUT_RATE, n_channels)) * 0.1).astype(np.float32)
    path = tmp_path / f"c{n_channels}.wav"
    sf.write(path, x, OUT_RATE, subtype="FLOAT")  # 16 kHz float: no resampling, no quantisation
    y = load_audio(path)
    np.testing.assert_allclose(y, x.mean(axis=1), atol=1e-6)
    assert audio_info(path).channels == n_channels


def test_channel_mean_at_another_rate(tmp_path: Path) -> None:
    """Channels carrying opposite signals cancel; a sine in one of two channels comes out halved."""
    rate = 48000
    x = sine(rate, 1.0)
    noise = np.random.default_rng(0).normal(size=len(x)).astype(np.float32) * 0.1
    path = tmp_path / "six.wav"
    sf.write(path, np.stack([x, noise, -noise, np.zeros_like(x), noise, -noise], axis=1), rate, subtype="FLOAT")
    y = load_audio(path)
    assert_is_sine(y, amplitude=0.5 / 6, tolerance=0.002)


@pytest.mark.parametrize("n_channels, layout", [(1, "mono"), (2, "stereo"), (6, "5.1")])
def test_channels_are_averaged_pyav(tmp_path: Path, n_channels: int, layout: str) -> None:
    """FFmpeg's own downmix weights channels (5.1 -> mono is not a mean); turnpoint averages them."""
    rng = np.random.default_rng(10 + n_channels)
    x = (rng.normal(size=(n_channels, OUT_RATE)) * 0.1).astype(np.float32)
    path = tmp_path / f"c{n_channels}.mkv"
    write_av(path, container_format="matroska", codec="pcm_f32le", rate=OUT_RATE, channels=x, layout=layout)
    y = load_audio(path)
    np.testing.assert_allclose(y, x.mean(axis=0), atol=1e-6)
    info = audio_info(path)
    assert (info.channels, info.backend) == (n_channels, "pyav")


# ---------------------------------------------------------------- block streaming


@pytest.mark.parametrize("rate", [44100, 16000])
def test_block_invariance_soundfile(tmp_path: Path, rate: int) -> None:
    rng = np.random.default_rng(rate)
    path = tmp_path / f"n{rate}.wav"
    sf.write(path, (rng.normal(size=(int(3.7 * rate), 2)) * 0.1).astype(np.float32), rate, subtype="FLOAT")
    reference = load_audio(path)
    assert abs(len(reference) - 3.7 * OUT_RATE) <= 1
    for block in (0.1, 1.3, 60.0, 0.001):
        blocks = list(iter_audio(path, block_duration=block))
        np.testing.assert_allclose(np.concatenate(blocks), reference, atol=1e-6)
        size = max(1, round(block * OUT_RATE))
        assert all(len(b) == size for b in blocks[:-1])
        assert 0 < len(blocks[-1]) <= size


def test_block_invariance_pyav(tmp_path: Path) -> None:
    path = tmp_path / "a.ts"
    write_av(path, container_format="mpegts", duration=3.0)
    reference = load_audio(path)
    for block in (0.1, 1.3, 60.0):
        blocks = list(iter_audio(path, block_duration=block))
        np.testing.assert_allclose(np.concatenate(blocks), reference, atol=1e-6)
        size = round(block * OUT_RATE)
        assert all(len(b) == size for b in blocks[:-1])
        assert 0 < len(blocks[-1]) <= size


def test_block_duration_must_be_positive(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    sf.write(path, np.zeros(1600), OUT_RATE)
    with pytest.raises(ValueError):
        list(iter_audio(path, block_duration=0))


# ---------------------------------------------------------------- errors


def assert_error(path: Path, match: str, *, info: bool = True) -> None:
    with pytest.raises(TurnpointError, match=match) as caught:
        load_audio(path)
    assert str(path) in str(caught.value)
    assert caught.value.path == str(path)
    with pytest.raises(TurnpointError) as caught:
        list(iter_audio(path, block_duration=0.5))
    assert str(path) in str(caught.value)
    if info:
        with pytest.raises(TurnpointError) as caught:
            audio_info(path)
        assert str(path) in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    assert_error(tmp_path / "missing.wav", "no such file")


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "folder.wav"
    folder.mkdir()
    assert_error(folder, "directory")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.touch()
    assert_error(path, "0 bytes")


def test_garbage_with_wav_extension(tmp_path: Path) -> None:
    path = tmp_path / "garbage.wav"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    assert_error(path, "cannot decode")


def test_riff_header_without_data(tmp_path: Path) -> None:
    path = tmp_path / "stub.wav"
    path.write_bytes(b"RIFF" + b"\x00" * 100)
    assert_error(path, "cannot decode|corrupt|no audio")


def test_text_renamed_mp4(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("these are my meeting notes\n" * 50)
    assert_error(path, "cannot decode")


def test_truncated_wav_gives_the_readable_part(tmp_path: Path) -> None:
    """The header claims 2 s; libsndfile reads what is there (the first ~1 s), no crash."""
    rate = 44100
    full = tmp_path / "full.wav"
    sf.write(full, sine(rate, 2.0), rate, subtype="PCM_16")
    data = full.read_bytes()
    path = tmp_path / "truncated.wav"
    path.write_bytes(data[: 44 + (len(data) - 44) // 2])
    try:
        y = load_audio(path)
    except TurnpointError as error:  # acceptable too, if libsndfile refuses it
        assert str(path) in str(error)
        return
    assert abs(len(y) - OUT_RATE) <= 0.01 * OUT_RATE
    assert_is_sine(y, tolerance=0.01)


def test_zero_frames(tmp_path: Path) -> None:
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros((0, 2), dtype=np.float32), 44100)
    assert audio_info(path).duration == 0.0  # a valid header: info works, reading has nothing
    assert_error(path, "no audio samples", info=False)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_samples(tmp_path: Path, bad: float) -> None:
    x = sine(OUT_RATE, 1.0)
    x[5000] = bad
    path = tmp_path / "nan.wav"
    sf.write(path, x, OUT_RATE, subtype="FLOAT")
    assert_error(path, "NaN or infinite", info=False)


def test_nan_in_one_channel_of_a_resampled_file(tmp_path: Path) -> None:
    x = np.stack([sine(44100, 1.0), sine(44100, 1.0)], axis=1)
    x[30000, 1] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, x, 44100, subtype="FLOAT")
    assert_error(path, "NaN or infinite", info=False)


def test_ffmpeg_errors_are_words_not_error_codes(tmp_path: Path) -> None:
    path = tmp_path / "notes.mkv"
    path.write_text("these are my meeting notes\n" * 50)
    with pytest.raises(TurnpointError) as caught:
        load_audio(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: cannot decode audio (invalid data found when processing input)")
    assert "Errno" not in message and message.count(str(path)) == 1


# ---------------------------------------------------------------- files shorter than their header says


def write_mp3(path: Path, seconds: float, rate: int = 16000) -> Path:
    """A mono MP3 of a 440 Hz sine, encoded by PyAV (LAME writes the frame count into its header)."""
    x = sine(rate, seconds)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mp3", rate=rate)
        stream.layout = "mono"
        for start in range(0, len(x), 1152):
            frame = av.AudioFrame.from_ndarray(x[None, start : start + 1152], format="flt", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


@pytest.mark.parametrize("reader", ["soundfile", "pyav"])
def test_truncated_mp3_warns_once_and_keeps_what_decodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, reader: str) -> None:
    import turnpoint.core.audio

    full = write_mp3(tmp_path / "full.mp3", 20.0)
    cut = tmp_path / "cut.mp3"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])  # a download that stopped half way
    if reader == "pyav":
        monkeypatch.setattr(turnpoint.core.audio, "_open_soundfile", lambda path: None)
    assert audio_info(cut).backend == reader and audio_info(cut).duration == pytest.approx(20.0, abs=0.1)

    def read(path: Path) -> tuple[float, list[str]]:
        warnings: list[str] = []
        seconds = sum(len(block) for block in iter_audio(path, block_duration=4.0, warnings=warnings)) / OUT_RATE
        return seconds, warnings

    with caplog.at_level("WARNING", logger="turnpoint"):
        seconds, warnings = read(full)
        assert seconds == pytest.approx(20.0, abs=0.1) and warnings == [] and not caplog.records
        seconds, warnings = read(cut)
        assert 8.0 < seconds < 12.0
        assert len(warnings) == 1 and "header says 20.0 s" in warnings[0] and "truncated" in warnings[0]
        logged = [record.getMessage() for record in caplog.records]
        assert logged == [f"{cut}: {warnings[0]}"]
        again, warnings_again = read(cut)  # another stage reading the same file: recorded again, logged once
        assert again == seconds and warnings_again == warnings and len(caplog.records) == 1
