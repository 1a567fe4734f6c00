"""RowSpool: rows on disk that slice like an array, and the speaker pipeline run on it."""

import numpy as np
import pytest

from turnpoint.core.spool import RowSpool


def test_rows_read_back_as_written_in_any_pieces() -> None:
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(1000, 7)).astype(np.float32)
    with RowSpool(width=7) as spool:
        for first in range(0, 1000, 137):
            spool.append(rows[first : first + 137])
        spool.append(rows[:0])  # an empty part changes nothing
        assert spool.shape == (1000, 7) and len(spool) == 1000
        np.testing.assert_array_equal(spool[:], rows)
        np.testing.assert_array_equal(spool[250:731], rows[250:731])
        np.testing.assert_array_equal(spool[990:5000], rows[990:])  # like an array, the end is clipped
        picked = np.array([999, 0, 500, -1])
        np.testing.assert_array_equal(spool[picked], rows[picked])
        spool[10:12] = np.zeros((2, 7), np.float32)
        assert not spool[10:12].any() and len(spool) == 1000


def test_writes_leave_no_holes_and_steps_are_refused() -> None:
    with RowSpool(width=2) as spool:
        spool.append(np.ones((3, 2), np.float32))
        with pytest.raises(IndexError, match="at the end"):
            spool[5:6] = np.ones((1, 2), np.float32)
        with pytest.raises(ValueError, match="do not fill"):
            spool[0:2] = np.ones((1, 2), np.float32)
        with pytest.raises(IndexError, match="step"):
            spool[::2]
        with pytest.raises(IndexError, match="out of range"):
            spool[np.array([3])]


def test_the_speaker_steps_give_the_same_on_a_spool_as_on_an_array() -> None:
    from turnpoint.changes.speakers import SpeakerSettings, change_distance, cluster_centroids, smooth_embeddings, viterbi_labels

    rng = np.random.default_rng(1)
    voices = rng.normal(size=(3, 16))
    raw = voices[np.repeat([0, 1, 2, 0, 1], 1400)] + 0.8 * rng.normal(size=(7000, 16))
    raw = (raw / np.linalg.norm(raw, axis=1, keepdims=True)).astype(np.float32)  # > MAX_CLUSTERED_WINDOWS and > ROWS_AT_ONCE
    settings = SpeakerSettings(encoder="ge2e", step=0.2)
    with RowSpool(width=16) as spooled_raw, RowSpool(width=16) as spooled:
        spooled_raw.append(raw)
        smoothed = smooth_embeddings(raw, radius=2, sharpness=10.0)
        assert smooth_embeddings(spooled_raw, radius=2, sharpness=10.0, out=spooled) is spooled
        np.testing.assert_array_equal(spooled[:], smoothed)
        centroids = cluster_centroids(smoothed, threshold=0.5)
        np.testing.assert_array_equal(cluster_centroids(spooled, threshold=0.5), centroids)
        assert len(centroids) >= 3
        labels = viterbi_labels(smoothed, centroids=centroids, switch_penalty=0.3)
        np.testing.assert_array_equal(viterbi_labels(spooled, centroids=centroids, switch_penalty=0.3), labels)
        np.testing.assert_array_equal(change_distance(spooled, settings=settings), change_distance(smoothed, settings=settings))
