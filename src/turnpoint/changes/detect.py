"""Speaker change detection on files: scores, peaks, change times and segments."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from turnpoint.core.audio import DEFAULT_BLOCK_DURATION
from turnpoint.changes.detection import Detection
from turnpoint.core.errors import TurnpointError
from turnpoint.core.windows import DEFAULT_BATCH_SIZE, Scores
from turnpoint.changes.scoring import score_blocks, score_file
from turnpoint.changes.modelfile import LoadedModel, check_encoder, load_model
from turnpoint.changes.peaks import ALPHA_SCALES, find_peaks, segments_from_changes
from turnpoint.changes.rescoring import RescoringSettings, resolve_rescoring
from turnpoint.changes.speakers import SpeakerSettings

logger = logging.getLogger(__name__)


def _resolve_settings(loaded: LoadedModel, alpha: float | None, min_duration: float | None, alpha_scale: str | None) -> dict:
    settings = {
        "alpha": loaded.defaults.alpha if alpha is None else float(alpha),
        "min_duration": loaded.defaults.min_duration if min_duration is None else float(min_duration),
        "alpha_scale": alpha_scale or loaded.defaults.alpha_scale,
    }
    if settings["alpha_scale"] not in ALPHA_SCALES:
        raise TurnpointError(f"alpha_scale must be one of {ALPHA_SCALES}, not {settings['alpha_scale']!r}")
    if not math.isfinite(settings["alpha"]):
        raise TurnpointError(f"alpha must be a finite number, not {settings['alpha']}")
    if not (math.isfinite(settings["min_duration"]) and settings["min_duration"] > 0):
        raise TurnpointError(f"min_duration must be a positive number of seconds, not {settings['min_duration']}")
    return settings


def changes_from_scores(scores: Scores, *, alpha: float, min_duration: float, alpha_scale: str = "absolute") -> np.ndarray:
    """Change times (s) of the peaks of a score curve."""
    peaks = find_peaks(scores.values, frame_step=scores.frame_step, alpha=alpha, min_duration=min_duration, alpha_scale=alpha_scale)
    return peaks * scores.frame_step


def detect_changes(
    audio: str | Path | np.ndarray,
    *,
    model: LoadedModel | str | Path | None = None,
    alpha: float | None = None,
    min_duration: float | None = None,
    alpha_scale: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    block_duration: float = DEFAULT_BLOCK_DURATION,
    uri: str | None = None,
    rescoring: RescoringSettings | bool | None = None,
    rescore_threshold: float | None = None,
    clustering: bool | None = None,
    speakers: SpeakerSettings | bool | None = None,
    speaker_threshold: float | None = None,
    encoder: str | None = None,
    device: str | None = None,
) -> Detection:
    """Detect speaker changes in an audio/video file or a 16 kHz mono waveform.

    Parameters
    ----------
    audio : path of any file soundfile or PyAV reads, or a float array of 16 kHz mono samples
    model : a loaded model, a model file, or None for the bundled default model
    alpha, min_duration, alpha_scale : peak picking; None takes the model's defaults
    batch_size : windows per forward pass
    block_duration : seconds of audio decoded at a time (bounds memory)
    uri : name used in outputs; the file's stem by default
    rescoring : re-scoring of the BiLSTM's candidate changes with GE2E speaker embeddings
        (:mod:`turnpoint.changes.rescoring`): None runs what the model ships (the bundled ``hybrid`` is
        the re-scored BiLSTM, ``paper`` the BiLSTM alone), False the BiLSTM's peaks alone, True
        re-scoring with the model's settings (or the module's defaults), or the given settings
    rescore_threshold : replaces the re-scoring threshold; ``min_duration`` applies to re-scored
        changes too
    clustering : the re-scoring's second pass (:class:`turnpoint.changes.rescoring.SegmentClustering`):
        None as the model ships, False off, True on (its defaults where the model ships none)
    speakers : the dense speaker pipeline (:mod:`turnpoint.changes.speakers`) that decides the bundled
        default's changes and labels its segments by speaker: None as the model ships, False off
        (the model's BiLSTM / re-scoring path), True on (the model's settings or the defaults), or
        the given settings
    speaker_threshold : replaces the speaker clustering's cosine cut (larger: fewer speakers)
    encoder : speaker encoder, "ge2e" or "compact": without ``model``, the bundled model built for it
        (``default`` / ``fast``); with one, refused unless the model runs that encoder
    device : where the networks run (default: where the model was loaded)

    Examples
    --------
    >>> import numpy as np
    >>> result = detect_changes(np.zeros(16000 * 5, dtype=np.float32))
    >>> result.segments[0][0], round(result.duration, 1)
    (0.0, 5.0)
    """
    loaded = check_encoder(model, encoder) if isinstance(model, LoadedModel) else load_model(model, encoder=encoder)
    settings = _resolve_settings(loaded, alpha, min_duration, alpha_scale)
    device = device or str(next(loaded.model.parameters()).device)
    if speakers is None:
        speakers = loaded.defaults.speakers if rescoring is None and clustering is None and rescore_threshold is None else None
    elif speakers is True:
        speakers = loaded.defaults.speakers or SpeakerSettings()
    if speakers is False or speakers is None:
        if speaker_threshold is not None:
            raise TurnpointError("a speaker threshold needs the speaker pipeline: this model or these options run without it")
    else:
        try:
            speakers = speakers.with_overrides(threshold=speaker_threshold)
        except ValueError as error:
            raise TurnpointError(str(error)) from None
        return _detect_speakers(audio, loaded=loaded, settings=settings, speakers=speakers, batch_size=batch_size,
                                block_duration=block_duration, uri=uri, device=device)
    chosen = resolve_rescoring(loaded.defaults.rescoring, rescoring)
    if chosen is None and (rescore_threshold is not None or clustering):
        raise TurnpointError("a re-scoring threshold or clustering needs re-scoring: this model ships none (use rescoring=True / --rescore)")
    if chosen is not None:
        try:
            chosen = chosen.with_overrides(threshold=rescore_threshold, min_duration=min_duration, clustering=clustering)
        except ValueError as error:
            raise TurnpointError(str(error)) from None
    if isinstance(audio, np.ndarray):
        rate = loaded.specifications.features.sample_rate
        blocks = (audio[i : i + int(block_duration * rate)] for i in range(0, len(audio), int(block_duration * rate)))
        scores = score_blocks(blocks, model=loaded.model, specifications=loaded.specifications, batch_size=batch_size)
        path, name = "", uri or "waveform"
    else:
        scores = score_file(
            audio, model=loaded.model, specifications=loaded.specifications, batch_size=batch_size, block_duration=block_duration
        )
        path, name = str(audio), uri or Path(audio).stem
    candidate_times = candidate_scores = dropped = None
    if chosen is None:
        changes = changes_from_scores(scores, **settings)
    else:
        from turnpoint.changes.rescoring import rescore

        evidence = rescore(audio, scores, settings=chosen, device=str(next(loaded.model.parameters()).device))
        changes, candidate_times, candidate_scores, dropped = evidence.changes, evidence.candidate_times, evidence.candidate_scores, evidence.dropped
        settings["rescoring"] = chosen.to_dict()
    logger.debug("%s: %d changes in %.1f s", name, len(changes), scores.duration)
    return Detection(
        uri=name,
        path=path,
        scores=scores,
        changes=changes,
        segments=segments_from_changes(changes, duration=scores.duration),
        settings=settings,
        model=loaded.describe(),
        candidates=candidate_times,
        candidate_scores=candidate_scores,
        dropped=dropped,
    )


def _detect_speakers(
    audio: str | Path | np.ndarray, *, loaded: LoadedModel, settings: dict, speakers: SpeakerSettings,
    batch_size: int, block_duration: float, uri: str | None, device: str,
) -> Detection:
    """The default detector: changes and speaker labels from :func:`turnpoint.changes.speakers.speaker_turns`.

    The score curve is the cosine distance between the speaker embeddings before and after each
    point (what the clustering cut is compared with), on the pipeline's window grid.
    """
    from turnpoint.core.audio import audio_info, iter_audio
    from turnpoint.core.windows import Scores
    from turnpoint.changes.speakers import signal_rms, speaker_turns, speaker_turns_streamed

    warnings: list[str] = []
    rate = loaded.specifications.features.sample_rate
    if isinstance(audio, np.ndarray):
        samples = np.asarray(audio, dtype=np.float32)
        path, name = "", uri or "waveform"
        result = speaker_turns_streamed([samples], settings=speakers, keep_embeddings=False) if speakers.encoder == "compact" else speaker_turns(samples, settings=speakers, device=device)
        duration = len(samples) / rate
    else:  # streamed: memory holds a block, not the file
        path, name = str(audio), uri or Path(audio).stem
        n_samples = 0

        def counted(blocks):
            nonlocal n_samples
            for block in blocks:
                n_samples += len(block)
                yield block

        # GE2E normalises the file's volume: a first pass reads its RMS (decoding is ~1 % of its time)
        rms = signal_rms(iter_audio(audio, sample_rate=rate, block_duration=block_duration)) if speakers.encoder == "ge2e" else None
        blocks = counted(iter_audio(audio, sample_rate=rate, block_duration=block_duration, warnings=warnings))
        result = speaker_turns_streamed(blocks, settings=speakers, total=audio_info(audio).duration, keep_embeddings=False,
                                        rms=rms, device=device)
        duration = n_samples / rate
    grid = np.arange(0.0, duration, speakers.step)
    values = np.interp(grid, result.times, result.distance).astype(np.float32) if len(result.times) else np.zeros(len(grid), np.float32)
    scores = Scores(values=values, frame_step=speakers.step, duration=duration, warnings=warnings)
    settings = {**settings, "speakers": speakers.to_dict(), "n_speakers": result.n_speakers}
    logger.debug("%s: %d changes, %d speakers in %.1f s", name, len(result.changes), result.n_speakers, duration)
    return Detection(
        uri=name,
        path=path,
        scores=scores,
        changes=result.changes,
        segments=result.segments,
        settings=settings,
        model=loaded.describe(),
        labels=result.segment_labels,
    )
