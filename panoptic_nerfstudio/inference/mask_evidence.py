"""Splitting a slot that the 2D masks separate: touching objects of one class that ended in one slot.

The field is smooth across the contact of two touching objects of one class, so one slot can win both early in
training and keep them: the per-image assignment then hands the pair one slot whenever the masks merge them and, in
the frames that show only one of them, the slot that already wins there. The masks, for all their defects,
separate the two in many frames. Over the calibration views every thing pixel of a slot carries its 3D surface
point and the 2D input segment it lies in, and a slot is split when its views' masks separate it consistently:

1. each large segment of a view that separates the slot gives one 3D centroid (of its pixels' surface points);
2. the centroids are clustered with scikit-learn's KMeans, k the usual number of large segments per such view;
3. the split stands only if nearly every separating view puts its large segments into different clusters (one
   object cut at random places by mask noise would not be);
4. every point of a clustered segment takes that segment's cluster (the masks draw the boundary), and every other
   point (views that merged the pair or showed one of it) the cluster of its nearest clustered point.

Many views cannot separate a merged pair at all (they show one of the two, or the network missed or merged one), so
a few consistent views suffice. A slot that too few views separate, or whose groups would be too small to count,
stays whole.
"""

from __future__ import annotations

from typing import List, Tuple

import numpy as np
from sklearn.cluster import KMeans

from panoptic_nerfstudio.inference.instance_parts import NO_PART, SlotParts, join_nearest, numbered_by_size, whole

NO_SEGMENT = -1
"""Segment of a pixel where the input has no thing (stuff, void)."""
MIN_VIEW_PIXELS = 16
"""A view counts for a slot when it shows at least this many of the slot's pixels (at the calibration resolution)."""
LARGE_SHARE = 0.2
"""A segment is large in a view when it holds at least this share of the slot's pixels there."""
MIN_SEPARATING_VIEWS = 3
"""Views that must separate the slot into two or more large segments..."""
SEPARATING_SHARE = 0.15
"""... and the share of the views that count (show enough of the slot) they must make up."""
CONSISTENT_SHARE = 0.8
"""Share of the separating views whose large segments must fall into different clusters."""


def large_segments(views: np.ndarray, segments: np.ndarray) -> Tuple[int, List[np.ndarray]]:
    """(views that count, the large segments of each view that separates the slot)."""
    counted, separating = 0, []
    for view in np.unique(views):
        mine = segments[views == view]
        if len(mine) < MIN_VIEW_PIXELS:
            continue
        counted += 1
        ids, sizes = np.unique(mine[mine != NO_SEGMENT], return_counts=True)
        large = ids[sizes >= LARGE_SHARE * len(mine)]
        if len(large) >= 2:
            separating.append(large)
    return counted, separating


def split_by_masks(points: np.ndarray, views: np.ndarray, segments: np.ndarray, min_part_points: int) -> SlotParts:
    """Parts of one slot's points ([n, 3]) by the input segments they lie in (``segments`` [n], unique over all views,
    NO_SEGMENT where none; ``views`` [n] the view of each point). One part unless the masks separate it (see above)."""
    counted, separating = large_segments(views, segments)
    if len(separating) < max(MIN_SEPARATING_VIEWS, SEPARATING_SHARE * counted):
        return whole(len(points))
    count = int(np.round(np.median([len(large) for large in separating])))
    clustered = np.concatenate(separating)
    centroids = np.stack([points[segments == segment].mean(axis=0) for segment in clustered])
    cluster = KMeans(n_clusters=count, n_init=10, random_state=0).fit_predict(centroids)
    first = np.cumsum([0] + [len(large) for large in separating])
    apart = [len(set(cluster[a:b].tolist())) == b - a for a, b in zip(first[:-1], first[1:])]
    if np.mean(apart) < CONSISTENT_SHARE:
        return whole(len(points))
    part = np.full(len(points), -1, dtype=np.int64)
    lookup = dict(zip(clustered.tolist(), cluster.tolist()))
    labelled = np.isin(segments, clustered)
    part[labelled] = [lookup[s] for s in segments[labelled].tolist()]
    join_nearest(points, part)
    if (np.bincount(part, minlength=count) < min_part_points).any():
        return whole(len(points))
    return numbered_by_size(part, count)


def refine_parts(
    parts: SlotParts, points: np.ndarray, views: np.ndarray, segments: np.ndarray, min_part_points: int
) -> SlotParts:
    """Split each of a slot's spatial ``parts`` further where the masks separate it; parts renumbered by size. Points
    of no part (NO_PART) stay so."""
    part = np.full(len(points), NO_PART, dtype=np.int64)
    count = 0
    for index in range(parts.count):
        mine = np.flatnonzero(parts.part == index)
        sub = split_by_masks(points[mine], views[mine], segments[mine], min_part_points)
        part[mine] = sub.part + count
        count += sub.count
    return numbered_by_size(part, count)
