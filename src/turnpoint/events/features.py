"""Inputs of the sound event detector, from the shared audio and feature code.

Audio is read by :func:`turnpoint.core.audio.load_audio` (any file → 16 kHz mono); features are
:func:`turnpoint.core.features.event_features`: 64 MFCC (c0–c63 of 96 slaney-mel log energies,
20–8000 Hz, 40 ms periodic-Hann window every 20 ms), their Δ (±4 frames) and the zero-crossing rate
— 129 numbers per frame, 50 frames per second. 100 frames (the seed's input length) are 2 s.
:data:`EVENT_LOGMEL_FEATURES` (an option) puts 64 log-mel band energies in place of the MFCC;
:data:`EVENT_FINE_LOGMEL_FEATURES` 128 bands from a 64 ms window (23 Hz apart below 1 kHz, twice as
fine: two tones 40 Hz apart give two peaks); tried for the bundled model and not adopted (docs/events.md).
:data:`EVENT_PCEN_FEATURES`: the 64 bands of the log-mel option through per-channel energy
normalisation instead of the log (each band divided by its own last ~0.4 s); tried, not
adopted (docs/events.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from turnpoint.core.audio import load_audio
from turnpoint.core.features import event_features
from turnpoint.core.task import FeatureConfig, Specifications

__all__ = ["EVENT_FEATURES", "EVENT_FINE_LOGMEL_FEATURES", "EVENT_LOGMEL_FEATURES", "EVENT_PCEN_FEATURES", "event_feature_config", "event_specifications", "file_features"]

EVENT_FEATURES = FeatureConfig(window_duration=0.040, step_duration=0.020, n_mels=96, n_mfcc=64, fmin=20.0, fmax=8000.0)
#: The same framing with 64 log-mel band energies (20–8000 Hz) in place of the 64 MFCC.
EVENT_LOGMEL_FEATURES = FeatureConfig(window_duration=0.040, step_duration=0.020, n_mels=64, n_mfcc=64, fmin=20.0, fmax=8000.0, coefficients="logmel")
#: 128 log-mel bands from a 64 ms window (1024-point FFT, bins 15.6 Hz apart), same 20 ms step.
EVENT_FINE_LOGMEL_FEATURES = FeatureConfig(window_duration=0.064, step_duration=0.020, n_mels=128, n_mfcc=128, fmin=20.0, fmax=8000.0, coefficients="logmel")
#: The log-mel option's 64 bands and framing, per-channel energy normalised (PCEN) instead of logged.
EVENT_PCEN_FEATURES = FeatureConfig(window_duration=0.040, step_duration=0.020, n_mels=64, n_mfcc=64, fmin=20.0, fmax=8000.0, coefficients="pcen")


def event_feature_config(coefficients: str = "mfcc") -> FeatureConfig:
    """The event detector's features: ``"mfcc"`` (the seed design's 64 MFCC), ``"logmel"`` (64 log-mel bands),
    ``"logmel128"`` (128 log-mel bands of a 64 ms window) or ``"pcen"`` (64 PCEN mel bands).

    Examples
    --------
    >>> event_feature_config("logmel").n_mels, event_feature_config("logmel128").n_fft
    (64, 1024)
    """
    options = {"mfcc": EVENT_FEATURES, "logmel": EVENT_LOGMEL_FEATURES, "logmel128": EVENT_FINE_LOGMEL_FEATURES, "pcen": EVENT_PCEN_FEATURES}
    if coefficients not in options:
        raise ValueError(f"event features are {', '.join(map(repr, options))}, not {coefficients!r}")
    return options[coefficients]


def event_specifications(*, classes: tuple[str, ...], frames: int = 100, features: FeatureConfig = EVENT_FEATURES) -> Specifications:
    """Task contract of the event detector: framing, window length (``frames``), step (a quarter), classes.

    Examples
    --------
    >>> spec = event_specifications(classes=("bell",))
    >>> spec.frames_per_chunk, spec.frames_per_step
    (100, 25)
    """
    chunk = frames * features.frame_step
    return Specifications(features=features, chunk_duration=round(chunk, 6), step_duration=round(chunk / 4, 6), classes=tuple(classes))


def file_features(path: str | Path, *, config: FeatureConfig = EVENT_FEATURES) -> tuple[np.ndarray, float]:
    """Features (frames, 2·n_mfcc + 1) of a whole file and its duration in seconds.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(p, np.zeros(16000, dtype=np.float32), 16000)
    >>> x, duration = file_features(p)
    >>> x.shape, duration
    ((51, 129), 1.0)
    """
    samples = load_audio(path, sample_rate=config.sample_rate)
    return event_features(samples, config=config), len(samples) / config.sample_rate
