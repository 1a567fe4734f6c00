"""turnpoint: find where audio turns.

Examples
--------
>>> import turnpoint
>>> result = turnpoint.detect_changes(turnpoint.example_path())  # doctest: +SKIP
>>> result.changes  # doctest: +SKIP
"""

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:  # what the names below resolve to, for type checkers and editors
    from turnpoint.annotations import Turn, change_points, read_rttm, read_uem, write_rttm, write_uem
    from turnpoint.api import detect_files
    from turnpoint.audio import iter_audio, load_audio
    from turnpoint.detect import Detection, detect_changes
    from turnpoint.errors import TurnpointError
    from turnpoint.features import FeatureStream, extract_features
    from turnpoint.metrics import boundary_score
    from turnpoint.model import SpeakerChangeConfig, SpeakerChangeDetector
    from turnpoint.modelfile import load_model, save_model
    from turnpoint.outputs import write_outputs
    from turnpoint.specs import FeatureConfig, Specifications
    from turnpoint.training import TrainingConfig, train

# The public API, imported on first use (module __getattr__): ``turnpoint --version`` and
# ``import turnpoint`` then cost no torch, scipy or matplotlib import.
_EXPORTS = {
    "Turn": "turnpoint.annotations", "change_points": "turnpoint.annotations", "read_rttm": "turnpoint.annotations",
    "read_uem": "turnpoint.annotations", "write_rttm": "turnpoint.annotations", "write_uem": "turnpoint.annotations",
    "detect_files": "turnpoint.api",
    "iter_audio": "turnpoint.audio", "load_audio": "turnpoint.audio",
    "Detection": "turnpoint.detect", "detect_changes": "turnpoint.detect",
    "TurnpointError": "turnpoint.errors",
    "FeatureStream": "turnpoint.features", "extract_features": "turnpoint.features",
    "boundary_score": "turnpoint.metrics",
    "SpeakerChangeConfig": "turnpoint.model", "SpeakerChangeDetector": "turnpoint.model",
    "load_model": "turnpoint.modelfile", "save_model": "turnpoint.modelfile",
    "write_outputs": "turnpoint.outputs",
    "FeatureConfig": "turnpoint.specs", "Specifications": "turnpoint.specs",
    "TrainingConfig": "turnpoint.training", "train": "turnpoint.training",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'turnpoint' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


def example_path() -> str:
    """Path of the bundled two-speaker example recording."""
    from importlib import resources

    return str(resources.files("turnpoint") / "examples" / "two_speakers.flac")


__all__ = [
    "Detection", "FeatureConfig", "FeatureStream", "SpeakerChangeConfig", "SpeakerChangeDetector", "Specifications",
    "TrainingConfig", "Turn", "TurnpointError", "boundary_score", "change_points", "detect_changes", "detect_files",
    "example_path", "extract_features", "iter_audio", "load_audio", "load_model", "read_rttm", "read_uem", "save_model",
    "train", "write_outputs", "write_rttm", "write_uem",
]
