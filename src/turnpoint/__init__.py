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
    from turnpoint.changes.annotations import Turn, change_points, read_rttm, read_uem, write_rttm, write_uem
    from turnpoint.changes.batch import detect_files
    from turnpoint.core.audio import iter_audio, load_audio
    from turnpoint.changes.detect import detect_changes
    from turnpoint.changes.detection import Detection
    from turnpoint.core.errors import TurnpointError
    from turnpoint.core.features import FeatureStream, extract_features
    from turnpoint.changes.metrics import boundary_score
    from turnpoint.changes.model import SpeakerChangeConfig, SpeakerChangeDetector
    from turnpoint.changes.modelfile import load_model, save_model
    from turnpoint.changes.outputs import write_outputs
    from turnpoint.core.task import FeatureConfig, Specifications
    from turnpoint.changes.training import TrainingConfig, train

# The public API, imported on first use (module __getattr__): ``turnpoint --version`` and
# ``import turnpoint`` then cost no torch, scipy or matplotlib import.
_EXPORTS = {
    "Turn": "turnpoint.changes.annotations", "change_points": "turnpoint.changes.annotations", "read_rttm": "turnpoint.changes.annotations",
    "read_uem": "turnpoint.changes.annotations", "write_rttm": "turnpoint.changes.annotations", "write_uem": "turnpoint.changes.annotations",
    "detect_files": "turnpoint.changes.batch",
    "iter_audio": "turnpoint.core.audio", "load_audio": "turnpoint.core.audio",
    "Detection": "turnpoint.changes.detection", "detect_changes": "turnpoint.changes.detect",
    "TurnpointError": "turnpoint.core.errors",
    "FeatureStream": "turnpoint.core.features", "extract_features": "turnpoint.core.features",
    "boundary_score": "turnpoint.changes.metrics",
    "SpeakerChangeConfig": "turnpoint.changes.model", "SpeakerChangeDetector": "turnpoint.changes.model",
    "load_model": "turnpoint.changes.modelfile", "save_model": "turnpoint.changes.modelfile",
    "write_outputs": "turnpoint.changes.outputs",
    "FeatureConfig": "turnpoint.core.task", "Specifications": "turnpoint.core.task",
    "TrainingConfig": "turnpoint.changes.training", "train": "turnpoint.changes.training",
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
