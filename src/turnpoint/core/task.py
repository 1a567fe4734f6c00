"""The task contract shared by data, model and inference (pyannote's ``Specifications``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

ConfigT = TypeVar("ConfigT", bound="JsonConfig")

#: What the static coefficients of a frame are: cepstra (DCT of the log-mel energies), the log-mel
#: energies, or the per-channel energy normalised (PCEN) mel magnitudes.
COEFFICIENTS = ("mfcc", "logmel", "pcen")


class JsonConfig:
    """JSON round trip for the frozen architecture dataclasses (tuples travel as lists).

    Examples
    --------
    >>> from turnpoint.changes.model import SpeakerChangeConfig
    >>> SpeakerChangeConfig.from_dict(SpeakerChangeConfig().to_dict()) == SpeakerChangeConfig()
    True
    """

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)  # type: ignore[call-overload]
        return {key: list(value) if isinstance(value, tuple) else value for key, value in data.items()}

    @classmethod
    def from_dict(cls: type[ConfigT], data: dict[str, Any]) -> ConfigT:
        unknown = set(data) - {f.name for f in fields(cls)}  # type: ignore[arg-type]
        if unknown:
            raise ValueError(f"unknown architecture keys: {sorted(unknown)}")
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in data.items()})


@dataclass(frozen=True)
class FeatureConfig:
    """How audio becomes the paper's 35-dim frames: 11 MFCC + 11 Δ + 11 ΔΔ + Δc0 + ΔΔc0.

    The paper uses a 32 ms window every 16 ms (default); the authors' released code 25 ms / 10 ms
    (``FeatureConfig.released_code()``). Mel filters span 130–6854 Hz as in the original Yaafe setup.

    Examples
    --------
    >>> FeatureConfig().frame_step
    0.016
    >>> FeatureConfig.released_code().hop_length
    160
    """

    sample_rate: int = 16000
    window_duration: float = 0.032
    step_duration: float = 0.016
    n_mels: int = 40
    n_mfcc: int = 11
    fmin: float = 130.0
    fmax: float = 6854.0
    delta_width: int = 9
    # "mfcc", or "logmel": the first n_mfcc log-mel band energies without the DCT (event features
    # only, with n_mfcc == n_mels; a frequency-resolved input for tones over tonal backgrounds), or
    # "pcen": the mel magnitudes normalised per band by their own recent past (event features only)
    coefficients: str = "mfcc"

    def __post_init__(self) -> None:
        if self.coefficients not in COEFFICIENTS:
            raise ValueError(f"coefficients must be one of {', '.join(COEFFICIENTS)}, not {self.coefficients!r}")

    @classmethod
    def released_code(cls) -> FeatureConfig:
        """The 25 ms / 10 ms framing of the authors' released code."""
        return cls(window_duration=0.025, step_duration=0.010)

    @property
    def win_length(self) -> int:
        return int(round(self.window_duration * self.sample_rate))

    @property
    def hop_length(self) -> int:
        return int(round(self.step_duration * self.sample_rate))

    @property
    def n_fft(self) -> int:
        return 1 << (self.win_length - 1).bit_length()

    @property
    def frame_step(self) -> float:
        return self.hop_length / self.sample_rate

    @property
    def dimension(self) -> int:
        return 3 * self.n_mfcc + 2

    def to_dict(self) -> dict:
        data = asdict(self)
        if data["coefficients"] == "mfcc":
            del data["coefficients"]  # the default is left out, so MFCC model files read in older versions too
        return data


@dataclass(frozen=True)
class Specifications:
    """What one labelling task shares: framing, chunk duration, sliding step and output classes.

    Examples
    --------
    >>> spec = Specifications()
    >>> spec.frames_per_chunk, spec.frames_per_step
    (200, 50)
    """

    features: FeatureConfig = FeatureConfig()
    chunk_duration: float = 3.2
    step_duration: float = 0.8
    classes: tuple[str, ...] = ("change",)

    def __post_init__(self) -> None:
        if not (0 < self.step_duration <= self.chunk_duration):
            raise ValueError(f"the sliding step ({self.step_duration} s) must be positive and at most the chunk ({self.chunk_duration} s)")

    @property
    def frames_per_chunk(self) -> int:
        return int(round(self.chunk_duration / self.features.frame_step))

    @property
    def frames_per_step(self) -> int:
        return max(1, int(round(self.step_duration / self.features.frame_step)))

    def to_dict(self) -> dict:
        return {
            "features": self.features.to_dict(),
            "chunk_duration": self.chunk_duration,
            "step_duration": self.step_duration,
            "classes": list(self.classes),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Specifications:
        return cls(
            features=FeatureConfig(**data["features"]),
            chunk_duration=float(data["chunk_duration"]),
            step_duration=float(data["step_duration"]),
            classes=tuple(data["classes"]),
        )
