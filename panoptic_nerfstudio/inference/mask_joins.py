"""Joining 3D instances that the 2D masks show as one object: an object split over two slots.

The reverse of ``mask_evidence``: where the per-image assignment handed the two halves of one object (a chair in a
row of the default room; a lamp, a sofa of the crowded one) to two slots, or a slot's split cut one object, the table
holds two 3D instances of one class for it. The masks, for all their defects, draw it as one segment in most views
that show it. Over the calibration views every thing pixel carries its 3D instance and the input segment it lies in;
two instances of one class are one object when the views that show both (``MIN_JOINT_VIEWS`` or more) put the bulk
of each into the same input segment in at least ``JOIN_SHARE`` of the views that decide (both in some segment). Two
touching objects that the network merges now and then are not joined: the views that separate them outvote those
that merge them; nor through a third instance: joins are made strongest first, and none that would put two
instances the masks keep apart (separated in the views that decide) into one object.
"""

from __future__ import annotations

from typing import Dict, List, Set, Tuple

import numpy as np

from panoptic_nerfstudio.inference.mask_evidence import NO_SEGMENT

MIN_VIEW_PIXELS = 3
"""An instance shows in a view with at least this many pixels (at the calibration resolution)."""
MIN_JOINT_VIEWS = 3
"""Views that must show both instances before the masks may join them."""
MIN_SHARED_VIEWS = 2
"""Views that must put both into one segment."""
JOIN_SHARE = 2 / 3
"""Share of the deciding views (both instances in some input segment) that must put them into the same one."""


def main_segments(
    instance: np.ndarray, views: np.ndarray, segments: np.ndarray, min_pixels: int = MIN_VIEW_PIXELS
) -> dict:
    """{(instance, view): the input segment most of the instance's pixels there lie in (NO_SEGMENT: none)} for the
    (instance, view) pairs with at least ``min_pixels`` pixels."""
    keys, inverse, sizes = np.unique(np.stack([instance, views]), axis=1, return_inverse=True, return_counts=True)
    main = {}
    for column in np.nonzero(sizes >= min_pixels)[0]:
        mine = segments[inverse.reshape(-1) == column]
        values, counts = np.unique(mine, return_counts=True)
        main[(int(keys[0, column]), int(keys[1, column]))] = int(values[counts.argmax()])
    return main


def joined_by_masks(
    instance: np.ndarray, classes: np.ndarray, views: np.ndarray, segments: np.ndarray, num_ids: int
) -> np.ndarray:
    """[num_ids] the id each 3D instance is one object with: the smallest id of its group (itself when alone).
    ``instance``, ``views``, ``segments`` [n] per thing pixel; ``classes`` [num_ids] each instance's class (< 0: none,
    never joined)."""
    main = main_segments(instance, views, segments)
    by_view: dict = {}
    for (instance_id, view), segment in main.items():
        by_view.setdefault(view, []).append((instance_id, segment))
    joint, shared, deciding = {}, {}, {}
    for pairs in by_view.values():
        for i, (a, segment_a) in enumerate(pairs):
            for b, segment_b in pairs[i + 1 :]:
                if a == b or classes[a] < 0 or classes[a] != classes[b]:
                    continue
                key = (min(a, b), max(a, b))
                joint[key] = joint.get(key, 0) + 1
                if segment_a != NO_SEGMENT and segment_b != NO_SEGMENT:
                    deciding[key] = deciding.get(key, 0) + 1
                    shared[key] = shared.get(key, 0) + int(segment_a == segment_b)
    decided = [key for key, count in joint.items() if count >= MIN_JOINT_VIEWS]
    edges = [key for key in decided if shared.get(key, 0) >= max(MIN_SHARED_VIEWS, JOIN_SHARE * deciding.get(key, 0))]
    kept_apart = {
        key
        for key in decided
        if deciding.get(key, 0) - shared.get(key, 0) >= MIN_SHARED_VIEWS
        and shared.get(key, 0) < JOIN_SHARE * deciding[key]
    }
    edges.sort(key=lambda key: (-shared[key] / deciding[key], -shared[key], key))  # strongest evidence first
    return joined_unless_kept_apart(edges, kept_apart, num_ids)


def joined_unless_kept_apart(
    edges: List[Tuple[int, int]], kept_apart: Set[Tuple[int, int]], num_ids: int
) -> np.ndarray:
    """[num_ids] the smallest id of each instance's group, joining along ``edges`` in order, except where a join would
    put two instances of ``kept_apart`` (pairs (a, b), a < b) into one group. Joining along every edge (connected
    components) lets a small piece of the contact of two touching objects, which some views draw with one and others
    with the other, make the pair one object (the crowded room's two sofas, contrastive head)."""
    group = np.arange(num_ids)
    members: Dict[int, Set[int]] = {i: {i} for i in range(num_ids)}
    for a, b in edges:
        first, second = int(group[a]), int(group[b])
        pairs = ((min(x, y), max(x, y)) for x in members[first] for y in members[second])
        if first == second or any(pair in kept_apart for pair in pairs):
            continue
        group[list(members[second])] = first
        members[first] |= members.pop(second)
    return np.array([min(members[int(group[i])]) for i in range(num_ids)])
