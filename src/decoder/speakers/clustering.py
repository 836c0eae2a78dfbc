"""Which windows share a voice: agglomerative clustering of unit embeddings by cosine similarity.

Average linkage: the two groups whose members are most alike on average merge, until the most
alike pair is below MERGE_SIMILARITY (two voices), within the bounds on the number of speakers
a task gives. Cost is bounded whatever the length: beyond MAX_POINTS windows, a k-means pass
first gathers them into MAX_POINTS groups, and the linkage runs over those. At the end every
window goes to its nearest speaker, so that a window is never stuck in a group it only joined
through a chain of neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from decoder.speakers.base import Embeddings

# Average cosine similarity of two groups of one voice (resemblyzer, 1 s windows: about 0.75-0.8;
# of two voices: about 0.55-0.6).
MERGE_SIMILARITY = 0.68
MAX_POINTS = 256
# A speaker heard in fewer windows than this share is folded into the nearest other one,
# unless the bounds need it.
MIN_SHARE = 0.02
_KMEANS_ROUNDS = 10

Labels = npt.NDArray[np.int64]


@dataclass(frozen=True)
class SpeakerBounds:
    """How many speakers the answer may have (None: no bound)."""

    low: int | None = None
    high: int | None = None


def cluster(embeddings: Embeddings, bounds: SpeakerBounds = SpeakerBounds()) -> Labels:
    """A label 0..k-1 per row, numbered by first appearance."""
    count = len(embeddings)
    if count == 0:
        return np.zeros(0, np.int64)
    points, weights = _reduce(embeddings)
    groups = _linkage(points, weights, bounds)
    centroids = _unit(np.stack([(points[g] * weights[g, None]).sum(axis=0) for g in groups]))
    labels = np.argmax(embeddings @ centroids.T, axis=1)
    labels = _fold_small(embeddings, labels, bounds.low or 1)
    return _by_first_appearance(labels)


def speaker_centroids(embeddings: Embeddings, labels: Labels) -> Embeddings:
    """Each speaker's mean direction, in label order (labels as cluster() numbers them)."""
    return _unit(
        np.stack([embeddings[labels == label].sum(axis=0) for label in range(int(labels.max()) + 1)])
    )


def _reduce(embeddings: Embeddings) -> tuple[Embeddings, npt.NDArray[np.float64]]:
    """The points the linkage runs over, and how many rows each stands for."""
    count = len(embeddings)
    if count <= MAX_POINTS:
        return embeddings, np.ones(count)
    centroids = embeddings[np.linspace(0, count - 1, MAX_POINTS).round().astype(np.int64)]
    member_of = np.zeros(count, np.int64)
    for _ in range(_KMEANS_ROUNDS):
        member_of = np.argmax(embeddings @ centroids.T, axis=1)
        sums = np.zeros_like(centroids)
        np.add.at(sums, member_of, embeddings)
        used = np.bincount(member_of, minlength=len(centroids)) > 0
        centroids = np.where(used[:, None], _unit(sums), centroids)
    weights = np.bincount(member_of, minlength=len(centroids)).astype(np.float64)
    kept = weights > 0
    return centroids[kept], weights[kept]


def _linkage(points: Embeddings, weights: npt.NDArray[np.float64], bounds: SpeakerBounds) -> list[list[int]]:
    """Average-linkage groups of the points (indices), merged as the bounds and similarity say."""
    groups: list[list[int]] = [[i] for i in range(len(points))]
    mass = weights.astype(np.float64).copy()
    similarity = (points @ points.T).astype(np.float64)
    np.fill_diagonal(similarity, -np.inf)
    alive = np.ones(len(points), bool)
    low = max(1, bounds.low or 1)
    high = bounds.high if bounds.high is not None else len(points)
    while alive.sum() > low:
        a, b = np.unravel_index(np.argmax(similarity), similarity.shape)
        if alive.sum() <= high and similarity[a, b] < MERGE_SIMILARITY:
            break
        merged = (mass[a] * similarity[a] + mass[b] * similarity[b]) / (mass[a] + mass[b])
        similarity[a], similarity[:, a] = merged, merged
        similarity[a, a] = -np.inf
        similarity[b], similarity[:, b] = -np.inf, -np.inf
        mass[a] += mass[b]
        groups[a] += groups[b]
        alive[b] = False
    return [groups[i] for i in np.flatnonzero(alive)]


def _fold_small(embeddings: Embeddings, labels: Labels, low: int) -> Labels:
    """Fold the rarest speakers under MIN_SHARE into their nearest others, keeping `low` at least."""
    while True:
        present, counts = np.unique(labels, return_counts=True)
        if len(present) <= low or counts.min() >= MIN_SHARE * len(labels):
            return labels
        rare = present[np.argmin(counts)]
        others = present[present != rare]
        centroids = _unit(np.stack([embeddings[labels == label].sum(axis=0) for label in others]))
        rows = labels == rare
        labels = labels.copy()
        labels[rows] = others[np.argmax(embeddings[rows] @ centroids.T, axis=1)]


def _by_first_appearance(labels: Labels) -> Labels:
    order: dict[int, int] = {}
    for label in labels.tolist():
        order.setdefault(label, len(order))
    return np.array([order[label] for label in labels.tolist()], np.int64)


def _unit(rows: npt.NDArray[np.floating]) -> Embeddings:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.asarray(rows / np.maximum(norms, 1e-12), dtype=np.float32)
