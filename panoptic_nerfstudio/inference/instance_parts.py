"""Splitting a slot into its spatially separate parts: the 3D instances of the instance table.

The per-image assignment asks the objects *seen together* in a frame to differ, and
nothing else: two cabinets 3 m apart that never share a frame may end in one slot. The
surface points a slot labels over the training views then form separate groups in 3D.
Each group is found with scikit-learn's DBSCAN (points closer than ``eps`` chain into
one group, so an object of any shape stays whole while a gap wider than ``eps`` splits),
and each group large enough to count becomes a 3D instance of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

import numpy as np
from sklearn.cluster import DBSCAN
from sklearn.neighbors import NearestNeighbors

MIN_SAMPLES = 4
"""Points a DBSCAN core point needs within ``eps``: a lone mislabelled pixel founds no part."""


@dataclass
class SlotParts:
    """The parts of one slot: part index per point (sorted by size, 0 the largest) and the number of parts."""

    part: np.ndarray
    """[n] int64 part of each of the slot's points."""
    count: int


def whole(count: int) -> SlotParts:
    """One part holding all ``count`` points of a slot."""
    return SlotParts(np.zeros(count, dtype=np.int64), 1)


def numbered_by_size(part: np.ndarray, count: int) -> SlotParts:
    """``part`` [n] (values 0..count-1) renumbered so that part 0 is the largest, then by decreasing size."""
    rank = np.argsort(-np.bincount(part, minlength=count), kind="stable")
    return SlotParts(np.argsort(rank)[part], count)


def split_slot(points: np.ndarray, eps: float, min_part_points: int) -> SlotParts:
    """Group a slot's surface points ([n, 3]) into parts of at least ``min_part_points`` points; points of smaller
    groups and DBSCAN's noise join the part of their nearest point in a kept part. One part where none is big enough."""
    if len(points) < 2 * max(min_part_points, MIN_SAMPLES):
        return whole(len(points))
    labels = DBSCAN(eps=eps, min_samples=MIN_SAMPLES).fit_predict(points)
    groups, sizes = np.unique(labels[labels >= 0], return_counts=True)
    kept = [int(g) for g, n in sorted(zip(groups, sizes), key=lambda gn: -gn[1]) if n >= min_part_points]
    if len(kept) <= 1:
        return whole(len(points))
    part = np.full(len(points), -1, dtype=np.int64)
    for index, group in enumerate(kept):
        part[labels == group] = index
    return SlotParts(join_nearest(points, part), len(kept))


def join_nearest(points: np.ndarray, part: np.ndarray) -> np.ndarray:
    """``part`` [n] with every point of part -1 given the part of its nearest point that has one (in place)."""
    loose = part < 0
    if loose.any():
        nearest = NearestNeighbors(n_neighbors=1).fit(points[~loose]).kneighbors(points[loose], return_distance=False)
        part[loose] = part[~loose][nearest[:, 0]]
    return part


def subsample(indices: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``count`` of ``indices``, drawn without replacement (all where there are fewer)."""
    return indices if len(indices) <= count else np.sort(rng.choice(indices, count, replace=False))


def points_per_part(parts: SlotParts, count: int, seed: int = 0) -> List[np.ndarray]:
    """Indices of at most ``count`` points of each part: what the table stores to label pixels by nearest point."""
    rng = np.random.default_rng(seed)
    return [subsample(np.flatnonzero(parts.part == p), count, rng) for p in range(parts.count)]
