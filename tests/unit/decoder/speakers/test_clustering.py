from __future__ import annotations

import numpy as np
import pytest

from decoder.speakers.clustering import MAX_POINTS, SpeakerBounds, cluster


def voices(counts: list[int], spread: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit rows around one random centre per voice, as alike as one real voice's windows are
    (cosine about 0.8) and as far apart as two voices' (about 0.6),
    in runs as turns of a dialogue come, and each row's voice."""
    rng = np.random.default_rng(seed)
    centres = np.abs(rng.normal(size=(len(counts), 256)))
    rows, truth = [], []
    for voice, count in enumerate(counts):
        noisy = centres[voice] + spread * np.linalg.norm(centres[voice]) / 16 * rng.normal(size=(count, 256))
        rows.append(noisy)
        truth += [voice] * count
    embeddings = np.concatenate(rows)
    return (embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)).astype(np.float32), np.array(
        truth
    )


def test_two_voices_make_two_speakers_numbered_by_first_appearance() -> None:
    embeddings, truth = voices([40, 60])
    labels = cluster(embeddings)
    assert labels.tolist() == truth.tolist()


def test_one_voice_stays_one_speaker() -> None:
    embeddings, _ = voices([80])
    assert set(cluster(embeddings).tolist()) == {0}


@pytest.mark.parametrize(("bounds", "expected"), [(SpeakerBounds(1, 1), 1), (SpeakerBounds(3, 3), 3)])
def test_the_bounds_decide_over_the_voices(bounds: SpeakerBounds, expected: int) -> None:
    embeddings, _ = voices([50, 50])
    assert len(set(cluster(embeddings, bounds).tolist())) == expected


def test_a_lower_bound_splits_what_sounds_alike() -> None:
    embeddings, _ = voices([100])
    assert len(set(cluster(embeddings, SpeakerBounds(low=2)).tolist())) == 2


def test_past_max_points_the_rows_are_gathered_first_and_still_told_apart() -> None:
    embeddings, truth = voices([3 * MAX_POINTS, 2 * MAX_POINTS, MAX_POINTS])
    labels = cluster(embeddings)
    assert labels.tolist() == truth.tolist()


def test_a_voice_heard_in_very_few_windows_is_folded_into_its_nearest() -> None:
    embeddings, _ = voices([99, 1])
    assert set(cluster(embeddings).tolist()) == {0}


def test_nothing_to_cluster() -> None:
    assert cluster(np.zeros((0, 256), np.float32)).tolist() == []
