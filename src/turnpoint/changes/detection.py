"""What a speaker-change detector found in one file, and its speech as turns and as other libraries' objects.

Every writer (:mod:`.outputs`, :mod:`.formats`, :mod:`.plots`, :mod:`.report`) reads a
:class:`Detection`; this module imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from turnpoint.changes.annotations import Turn
from turnpoint.core.errors import TurnpointError
from turnpoint.core.windows import Scores

__all__ = ["Detection", "segments_as_turns"]


@dataclass
class Detection:
    """Everything found in one file.

    Attributes
    ----------
    uri : the file's name without extension (as in reference RTTMs)
    scores : per-frame change scores and their timestamps
    changes : change times in seconds
    segments : (start, end) of the segments between changes, covering the whole file
    settings : the peak-picking settings used
    model : description of the model that produced the scores
    """

    uri: str
    path: str
    scores: Scores
    changes: np.ndarray
    segments: list[tuple[float, float]]
    settings: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    candidates: np.ndarray | None = None  # with re-scoring: candidate times (s) ...
    candidate_scores: np.ndarray | None = None  # ... and their re-scored scores
    dropped: np.ndarray | None = None  # with a second pass: first-pass changes it dropped (same speaker cluster)
    # with speaker labelling: one entry per segment, the speaker label ("SPEAKER_00"...) or None for
    # non-speech; None when the detector does not label (every segment is then unlabelled speech)
    labels: list[str | None] | None = None

    @property
    def duration(self) -> float:
        return self.scores.duration

    def _segment_dicts(self) -> list[dict]:
        if self.labels is None:
            return [{"start": round(s, 3), "end": round(e, 3)} for s, e in self.segments]
        return [{"start": round(s, 3), "end": round(e, 3), "speech": label is not None, "speaker": label}
                for (s, e), label in zip(self.segments, self.labels)]

    def to_dict(self, *, include_scores: bool = False) -> dict:
        data = {
            "uri": self.uri,
            "audio": self.path,
            "duration": round(self.duration, 6),
            "changes": [round(float(c), 3) for c in self.changes],
            "segments": self._segment_dicts(),
            "frame_step": self.scores.frame_step,
            "n_frames": int(len(self.scores.values)),
            "settings": self.settings,
            "model": self.model,
            "warnings": list(getattr(self.scores, "warnings", [])),  # e.g. a file decoding shorter than its header says
        }
        if self.candidates is not None:
            data["candidates"] = [{"time": round(float(t), 3), "score": round(float(v), 5)} for t, v in zip(self.candidates, self.candidate_scores)]
        if self.dropped is not None:
            data["dropped_by_clustering"] = [round(float(t), 3) for t in self.dropped]
        if include_scores:
            data["scores"] = [round(float(v), 5) for v in self.scores.values]
        return data

    def turns(self) -> list[Turn]:
        """The speech turns in time order (see :func:`segments_as_turns`)."""
        return sorted(segments_as_turns(self), key=lambda t: (t.start, t.end, t.speaker))

    def to_annotation(self):  # -> pyannote.core.Annotation (imported only when asked for)
        """The speech turns as a ``pyannote.core.Annotation`` (uri = the detection's uri).

        Each turn is one track labelled by its speaker (``seg0000``… without speaker labels);
        non-speech is left out. Needs ``pyannote.core`` (installed with pyannote.metrics).

        Examples
        --------
        >>> d = Detection(uri="talk", path="", scores=Scores(np.zeros(0), frame_step=0.01, duration=4.0), changes=np.array([1.5, 3.0]),
        ...               segments=[(0.0, 1.5), (1.5, 3.0), (3.0, 4.0)], labels=["A", None, "B"])
        >>> annotation = d.to_annotation()
        >>> annotation.uri, annotation.labels(), annotation.label_duration("B")
        ('talk', ['A', 'B'], 1.0)
        """
        try:
            from pyannote.core import Annotation, Segment
        except ImportError:
            raise TurnpointError("pyannote.core is not installed: pip install pyannote.core") from None

        annotation = Annotation(uri=self.uri)
        for index, turn in enumerate(self.turns()):
            annotation[Segment(turn.start, turn.end), index] = turn.speaker
        return annotation

    def to_lhotse(self) -> list:
        """The speech turns as lhotse ``SupervisionSegment`` s (recording_id = the detection's uri, channel 0).

        Ids are ``<uri>-00000``, ``<uri>-00001``… in time order; ``speaker`` is the turn's label
        (``seg0000``… without speaker labels); non-speech is left out. Needs ``lhotse``.

        Examples
        --------
        >>> d = Detection(uri="talk", path="", scores=Scores(np.zeros(0), frame_step=0.01, duration=4.0), changes=np.array([1.5, 3.0]),
        ...               segments=[(0.0, 1.5), (1.5, 3.0), (3.0, 4.0)], labels=["A", None, "B"])
        >>> [(s.id, s.start, s.duration, s.speaker) for s in d.to_lhotse()]
        [('talk-00000', 0.0, 1.5, 'A'), ('talk-00001', 3.0, 1.0, 'B')]
        """
        try:
            from lhotse import SupervisionSegment
        except ImportError:
            raise TurnpointError("lhotse is not installed: pip install lhotse") from None

        return [
            SupervisionSegment(
                id=f"{self.uri}-{index:05d}", recording_id=self.uri, start=turn.start, duration=round(turn.end - turn.start, 6),
                channel=0, speaker=turn.speaker,
            )
            for index, turn in enumerate(self.turns())
        ]


def segments_as_turns(detection: Detection) -> list[Turn]:
    """The detection's speech as turns.

    With speaker labels (``detection.labels``), each speech segment is a turn of its speaker and
    non-speech segments (label None) are left out; without, every segment is a turn labelled
    ``seg0000``, ``seg0001``… (a change detector alone does not know who speaks).

    Examples
    --------
    >>> import numpy as np
    >>> from turnpoint.core.windows import Scores
    >>> d = Detection(uri="talk", path="", scores=Scores(np.zeros(0), frame_step=0.01, duration=4.0), changes=np.array([1.5, 3.0]),
    ...               segments=[(0.0, 1.5), (1.5, 3.0), (3.0, 4.0)])
    >>> [t.speaker for t in segments_as_turns(d)]
    ['seg0000', 'seg0001', 'seg0002']
    >>> d.labels = ["SPEAKER_00", None, "SPEAKER_01"]
    >>> [(t.start, t.speaker) for t in segments_as_turns(d)]
    [(0.0, 'SPEAKER_00'), (3.0, 'SPEAKER_01')]
    """
    labels = detection.labels
    if labels is None:
        return [Turn(start=s, end=e, speaker=f"seg{i:04d}") for i, (s, e) in enumerate(detection.segments)]
    if len(labels) != len(detection.segments):
        raise ValueError(f"{len(labels)} labels for {len(detection.segments)} segments: labels must be aligned with segments")
    return [Turn(start=s, end=e, speaker=label) for (s, e), label in zip(detection.segments, labels) if label is not None]
