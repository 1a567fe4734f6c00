"""turnpoint: find where audio turns.

Examples
--------
>>> import turnpoint
>>> result = turnpoint.detect_changes(turnpoint.example_path())  # doctest: +SKIP
>>> result.changes  # doctest: +SKIP
"""

__version__ = "0.1.0"

from turnpoint.annotations import Turn, change_points, read_rttm, read_uem, write_rttm, write_uem  # noqa: E402
from turnpoint.api import detect_files  # noqa: E402
from turnpoint.audio import iter_audio, load_audio  # noqa: E402
from turnpoint.detect import Detection, detect_changes  # noqa: E402
from turnpoint.errors import TurnpointError  # noqa: E402
from turnpoint.features import FeatureStream, extract_features  # noqa: E402
from turnpoint.metrics import boundary_score  # noqa: E402
from turnpoint.model import SpeakerChangeConfig, SpeakerChangeDetector  # noqa: E402
from turnpoint.modelfile import load_model, save_model  # noqa: E402
from turnpoint.outputs import write_outputs  # noqa: E402
from turnpoint.specs import FeatureConfig, Specifications  # noqa: E402
from turnpoint.training import TrainingConfig, train  # noqa: E402


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
