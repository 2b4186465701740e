"""Splitting a slot into its spatially separate parts: the 3D instances of the instance table.

The per-image assignment asks the objects *seen together* in a frame to differ, and
nothing else: two cabinets 3 m apart that never share a frame may end in one slot. The
surface points a slot labels over the training views then form separate groups in 3D.
Each group is found with scikit-learn's DBSCAN (points closer than ``eps`` chain into
one group, so an object of any shape stays whole while a gap wider than ``eps`` splits),
and each group large enough to count becomes a 3D instance of its own, as does a smaller group
the field gives another class than the large group it would otherwise join.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

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


def split_slot(
    points: np.ndarray, eps: float, min_part_points: int, classes: Optional[np.ndarray] = None
) -> SlotParts:
    """Group a slot's surface points ([n, 3]) into parts of at least ``min_part_points`` points; points of smaller
    groups and DBSCAN's noise join the part of their nearest point in a kept part. One part where none is big enough.

    With ``classes`` ([n], each point's rendered class), a smaller group is kept as a part too when its majority class
    differs from that of the large part it would join: joined, it would take that part's class (one class per
    instance), as a picture frame sharing a slot with a chair across the room came out *chair* on the thin room."""
    if len(points) < 2 * max(min_part_points, MIN_SAMPLES):
        return whole(len(points))
    labels = DBSCAN(eps=eps, min_samples=MIN_SAMPLES).fit_predict(points)
    groups, sizes = np.unique(labels[labels >= 0], return_counts=True)
    large = [int(g) for g, n in zip(groups, sizes) if n >= min_part_points]
    distinct = other_class_groups(points, labels, classes, large) if classes is not None and large else []
    if len(large) + len(distinct) <= 1:
        return whole(len(points))
    part = np.full(len(points), -1, dtype=np.int64)
    for index, group in enumerate(large):
        part[labels == group] = index
    # loose points join large parts only: a small part keeps its own points, and so its class
    joining = ~np.isin(labels, distinct)
    part[joining] = join_nearest(points[joining], part[joining])
    for index, group in enumerate(distinct, start=len(large)):
        part[labels == group] = index
    return numbered_by_size(part, len(large) + len(distinct))


def majority_class(class_ids: np.ndarray) -> int:
    """The most frequent of ``class_ids`` (the smallest on a tie)."""
    values, counts = np.unique(class_ids, return_counts=True)
    return int(values[np.argmax(counts)])


def other_class_groups(points: np.ndarray, labels: np.ndarray, classes: np.ndarray, large: List[int]) -> List[int]:
    """DBSCAN groups (``labels``) not in ``large`` whose majority class differs from that of the large group nearest
    to most of their points."""
    on_large = np.isin(labels, large)
    finder = NearestNeighbors(n_neighbors=1).fit(points[on_large])
    large_class = {group: majority_class(classes[labels == group]) for group in large}
    found = []
    for group in np.unique(labels[(labels >= 0) & ~on_large]).tolist():
        mine = labels == group
        nearest = labels[on_large][finder.kneighbors(points[mine], return_distance=False)[:, 0]]
        if majority_class(classes[mine]) != large_class[majority_class(nearest)]:
            found.append(int(group))
    return found


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
