"""Splitting a slot into its spatially separate parts: the 3D instances of the instance table.

The per-image assignment asks the objects *seen together* in a frame to differ, and
nothing else: two cabinets 3 m apart that never share a frame may end in one slot. The
surface points a slot labels over the training views then form separate groups in 3D.
Each group is found with scikit-learn's DBSCAN (points closer than ``eps`` chain into
one group, so an object of any shape stays whole while a gap wider than ``eps`` splits),
and each group large enough to count becomes a 3D instance of its own, as does a smaller group
the field gives another class than the large group it would otherwise join. The remaining small
groups and DBSCAN's noise join a large part only where they lie within ``eps`` of it; points
farther from every part belong to none (part -1, labelled stuff by the table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np
from sklearn.cluster import DBSCAN
from sklearn.neighbors import NearestNeighbors

MIN_SAMPLES = 4
"""Points a DBSCAN core point needs within ``eps``: a lone mislabelled pixel founds no part."""

NO_PART = -1
"""Part of a point farther than ``eps`` from every part of its slot."""


@dataclass
class SlotParts:
    """The parts of one slot: part index per point (sorted by size, 0 the largest) and the number of parts."""

    part: np.ndarray
    """[n] int64 part of each of the slot's points (NO_PART: none)."""
    count: int


def whole(count: int) -> SlotParts:
    """One part holding all ``count`` points of a slot."""
    return SlotParts(np.zeros(count, dtype=np.int64), 1)


def numbered_by_size(part: np.ndarray, count: int) -> SlotParts:
    """``part`` [n] (values 0..count-1, or -1: no part) renumbered so that part 0 is the largest, then by decreasing
    size; -1 stays -1."""
    has_part = part >= 0
    rank = np.argsort(-np.bincount(part[has_part], minlength=count), kind="stable")
    return SlotParts(np.where(has_part, np.argsort(rank)[np.maximum(part, 0)], NO_PART), count)


def split_slot(
    points: np.ndarray, eps: float, min_part_points: int, classes: Optional[np.ndarray] = None
) -> SlotParts:
    """Group a slot's surface points ([n, 3]) into parts of at least ``min_part_points`` points; points of smaller
    groups and DBSCAN's noise join the part of their nearest point in a kept part if it lies within ``eps``, and
    belong to no part (NO_PART) if it does not. One part of all points where no group is big enough.

    Far points joined to their nearest part, however far, gave a part the id of objects across the room: on the
    thin room a 9-point group 3 m away gave a picture frame the id of the frame on the opposite wall, and boundary
    pixels rendered at the depth of the wall behind a lamp tied the other lamp to it.

    With ``classes`` ([n], each point's rendered class), a smaller group is kept as a part too when its majority class
    differs from that of the large part it would join: joined, it would take that part's class (one class per
    instance), as a picture frame sharing a slot with a chair across the room came out *chair* on the thin room."""
    if len(points) < 2 * max(min_part_points, MIN_SAMPLES):
        return whole(len(points))
    labels = DBSCAN(eps=eps, min_samples=MIN_SAMPLES).fit_predict(points)
    groups, sizes = np.unique(labels[labels >= 0], return_counts=True)
    large = [int(g) for g, n in zip(groups, sizes) if n >= min_part_points]
    if not large:
        return whole(len(points))
    distinct = other_class_groups(points, labels, classes, large) if classes is not None else []
    part = np.full(len(points), NO_PART, dtype=np.int64)
    for index, group in enumerate(large):
        part[labels == group] = index
    # loose points join large parts only: a small part keeps its own points, and so its class
    joining = ~np.isin(labels, distinct)
    part[joining] = join_nearest(points[joining], part[joining], max_distance=eps)
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


def join_nearest(points: np.ndarray, part: np.ndarray, max_distance: Optional[float] = None) -> np.ndarray:
    """``part`` [n] with every point of part NO_PART given the part of its nearest point that has one (in place);
    with ``max_distance``, only where that point lies within it."""
    loose = part < 0
    if loose.any():
        distance, nearest = NearestNeighbors(n_neighbors=1).fit(points[~loose]).kneighbors(points[loose])
        joined = part[~loose][nearest[:, 0]]
        if max_distance is not None:
            joined[distance[:, 0] > max_distance] = NO_PART
        part[loose] = joined
    return part


def subsample(indices: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``count`` of ``indices``, drawn without replacement (all where there are fewer)."""
    return indices if len(indices) <= count else np.sort(rng.choice(indices, count, replace=False))


def points_per_part(parts: SlotParts, count: int, seed: int = 0) -> List[np.ndarray]:
    """Indices of at most ``count`` points of each part: what the table stores to label pixels by nearest point."""
    rng = np.random.default_rng(seed)
    return [subsample(np.flatnonzero(parts.part == p), count, rng) for p in range(parts.count)]
