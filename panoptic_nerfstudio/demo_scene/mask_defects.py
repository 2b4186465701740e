"""Simulated 2D-network masks: ground truth damaged the way a per-frame panoptic network damages it.

A real network such as Mask2Former, run frame by frame, emits masks with these
defects, each here scaled by ``DemoSceneConfig.noise``:

* fresh random segment ids in every frame (things and stuff), so ids say
  nothing about identity across views -- this one is never scaled away;
* missed small instances, set to void or absorbed by the surrounding stuff;
* touching instances of one class merged into one segment;
* thing segments given a similar but wrong class, with a low score;
* blobs of a stuff region painted with a similar stuff class (wall read as
  cabinet, ...), with low confidence;
* boundaries shifted by a smooth 1-2 px displacement, plus segments that
  bleed a pixel into their neighbours;
* thin void bands along some segment boundaries;
* confidence equal to the segment score, lowered near segment boundaries.

Lifting has to undo exactly these, so the rates below are what the method's
robustness is measured against; every layout uses the same ones.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, field
from typing import Dict, List, Tuple

import numpy as np

from panoptic_nerfstudio.data.panoptic_format import VOID_ID, PanopticFrame, SegmentInfo
from panoptic_nerfstudio.demo_scene.classes import SIMILAR_CLASS, SIMILAR_STUFF, STUFF_GT_ID_STRIDE


# ----------------------------------------------------------------------------- mask helpers


def _shift(a: np.ndarray, dy: int, dx: int, fill) -> np.ndarray:
    """``a`` moved by (dy, dx): out[y, x] = a[y - dy, x - dx], ``fill`` where that falls outside."""
    out = np.full_like(a, fill)
    h, w = a.shape
    target = (slice(max(dy, 0), h + min(dy, 0)), slice(max(dx, 0), w + min(dx, 0)))
    out[target] = a[max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)]
    return out


_NEIGHBOURS4 = ((1, 0), (-1, 0), (0, 1), (0, -1))


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grow ``mask`` by ``radius`` steps of 4-neighbours: the same neighbourhood as :func:`boundary_mask`."""
    for _ in range(radius):
        grown = mask.copy()
        for dy, dx in _NEIGHBOURS4:
            grown |= _shift(mask, dy, dx, False)
        mask = grown
    return mask


def boundary_mask(labels: np.ndarray) -> np.ndarray:
    """Pixels with a 4-neighbour of another label (void included); the image border is not a boundary."""
    edge = np.zeros(labels.shape, dtype=bool)
    for dy, dx in _NEIGHBOURS4:
        neighbour = _shift(labels, dy, dx, -1)
        edge |= (neighbour != labels) & (neighbour != -1)
    return edge


def boundary_distance(labels: np.ndarray, cap: int = 8) -> np.ndarray:
    """City-block distance to the nearest boundary pixel, 1 on the boundary, ``cap`` at most."""
    current = boundary_mask(labels)
    dist = np.where(current, 1, cap)
    for k in range(2, cap):
        current = _dilate(current, 1)
        dist[current & (dist == cap)] = k
    return dist


def _smooth_field(rng: np.random.Generator, shape: Tuple[int, int], cell: int) -> np.ndarray:
    """Unit-variance-ish random field varying over ``cell`` pixels, bilinearly interpolated."""
    h, w = shape
    gh, gw = h // cell + 2, w // cell + 2
    grid = rng.standard_normal((gh, gw))
    ys, xs = np.arange(h) / cell, np.arange(w) / cell
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    g00, g01 = grid[np.ix_(y0, x0)], grid[np.ix_(y0, x0 + 1)]
    g10, g11 = grid[np.ix_(y0 + 1, x0)], grid[np.ix_(y0 + 1, x0 + 1)]
    return (g00 * (1 - fx) + g01 * fx) * (1 - fy) + (g10 * (1 - fx) + g11 * fx) * fy


def _fresh_ids(rng: np.random.Generator, count: int) -> List[int]:
    """Distinct random segment ids in 1..2^24-1, as a per-frame network would emit."""
    ids: List[int] = []
    seen = set()
    while len(ids) < count:
        candidate = int(rng.integers(1, 256**3))
        if candidate not in seen:
            seen.add(candidate)
            ids.append(candidate)
    return ids


# ----------------------------------------------------------------------------- machine masks

# Defect rates at noise = 1. Each is multiplied by DemoSceneConfig.noise.
SMALL_AREA_FRACTION = 0.012
"""Thing segments below this fraction of the image may be missed, the smaller the likelier."""
MISS_RATE = 0.7
MERGE_RATE = 0.2
CONFUSION_RATE = 0.12
STUFF_PATCH_RATE = 0.4
BOUNDARY_SHIFT_PX = 0.9
BLEED_RATE = 0.2
VOID_BAND_RATE = 0.15
BOUNDARY_CONFIDENCE_DROP = 0.55


@dataclass
class _Segment:
    """A machine segment while defects are applied: what it will be written as."""

    category_id: int
    isthing: bool
    score: float = 1.0


@dataclass
class MaskStats:
    """How many of each whole-segment defect a frame (or a sum of frames) received, for the summary."""

    missed: int = 0
    merged: int = 0
    confused: int = 0
    stuff_patches: int = 0

    def __add__(self, other: MaskStats) -> MaskStats:
        return MaskStats(*(a + b for a, b in zip(astuple(self), astuple(other))))


@dataclass
class _Simulation:
    """A frame's machine mask while the defects are applied; labels are keys into ``segments``."""

    labels: np.ndarray
    segments: Dict[int, _Segment]
    rng: np.random.Generator
    noise: float
    doubt: np.ndarray
    """[H, W] confidence multiplier, below 1 where the network painted a region with a wrong class."""
    stats: MaskStats = field(default_factory=MaskStats)

    def chance(self, rate: float) -> bool:
        """A defect with probability ``rate * noise``."""
        return bool(self.rng.random() < rate * self.noise)

    def present(self) -> List[int]:
        return [int(k) for k in np.unique(self.labels) if k != VOID_ID]


def _miss_small(sim: _Simulation) -> None:
    """Drop small thing segments, to void or into the stuff around them."""
    keys, counts = np.unique(sim.labels, return_counts=True)
    small = SMALL_AREA_FRACTION * sim.labels.size
    for key, area in zip(keys.tolist(), counts.tolist()):
        if key == VOID_ID or not sim.segments[key].isthing or area >= small:
            continue
        if not sim.chance(MISS_RATE * (1 - area / small)):
            continue
        sim.stats.missed += 1
        mask = sim.labels == key
        ring = sim.labels[_dilate(mask, 2) & ~mask]
        stuff = np.array([k for k in ring.tolist() if k != VOID_ID and not sim.segments[k].isthing], dtype=np.int64)
        to_void = sim.rng.random() < 0.5 or stuff.size == 0
        if to_void:
            sim.labels[mask] = VOID_ID
        else:
            values, votes = np.unique(stuff, return_counts=True)
            sim.labels[mask] = values[votes.argmax()]


def _merge_neighbours(sim: _Simulation) -> None:
    """Touching instances of one class become one segment."""
    things = [k for k in sim.present() if sim.segments[k].isthing]
    for i, a in enumerate(things):
        for b in things[i + 1 :]:
            if sim.segments[a].category_id != sim.segments[b].category_id:
                continue
            mask_a, mask_b = sim.labels == a, sim.labels == b
            if not mask_a.any() or not mask_b.any() or not (_dilate(mask_a, 2) & mask_b).any():
                continue
            if sim.chance(MERGE_RATE):
                sim.labels[mask_b] = a
                sim.stats.merged += 1


def _stuff_patches(sim: _Simulation) -> None:
    """Blobs of some stuff regions get a similar stuff class (wall read as cabinet, table as cabinet, ...).

    The blob joins that class's segment in the frame, so each stuff class keeps a single segment.
    """
    h, w = sim.labels.shape
    for key in sim.present():
        seg = sim.segments[key]
        if seg.isthing or seg.category_id not in SIMILAR_STUFF or not sim.chance(STUFF_PATCH_RATE):
            continue
        region = sim.labels == key
        blob = _smooth_field(sim.rng, (h, w), max(4, min(h, w) // 4))
        fraction = sim.rng.uniform(0.15, 0.45)
        blob = region & (blob >= np.quantile(blob[region], 1 - fraction))
        target = SIMILAR_STUFF[seg.category_id]
        target_key = target * STUFF_GT_ID_STRIDE
        sim.segments.setdefault(target_key, _Segment(target, False))
        sim.labels[blob] = target_key
        sim.doubt[blob] *= sim.rng.uniform(0.45, 0.75)
        sim.stats.stuff_patches += 1


def _score_and_confuse(sim: _Simulation) -> None:
    """Scores near 1 for good segments; a few thing segments get a similar wrong class and a low score."""
    for key in sim.present():
        seg = sim.segments[key]
        if seg.isthing and sim.chance(CONFUSION_RATE):
            sim.segments[key] = _Segment(SIMILAR_CLASS[seg.category_id], True, float(sim.rng.uniform(0.3, 0.55)))
            sim.stats.confused += 1
            continue
        drop = sim.rng.uniform(0.02, 0.25) if seg.isthing else sim.rng.uniform(0.01, 0.1)
        sim.segments[key] = _Segment(seg.category_id, seg.isthing, float(np.clip(1 - sim.noise * drop, 0.05, 1.0)))


def _warp_boundaries(sim: _Simulation) -> None:
    """Move every boundary by a smooth random displacement of about a pixel or two."""
    h, w = sim.labels.shape
    cell = max(4, min(h, w) // 10)
    dy = _smooth_field(sim.rng, (h, w), cell) * BOUNDARY_SHIFT_PX * sim.noise
    dx = _smooth_field(sim.rng, (h, w), cell) * BOUNDARY_SHIFT_PX * sim.noise
    rows = np.clip(np.round(np.arange(h)[:, None] + dy), 0, h - 1).astype(np.int64)
    cols = np.clip(np.round(np.arange(w)[None, :] + dx), 0, w - 1).astype(np.int64)
    sim.labels, sim.doubt = sim.labels[rows, cols], sim.doubt[rows, cols]


def _bleed(sim: _Simulation) -> None:
    """Some segments spill one pixel into their labelled neighbours."""
    for key in sim.present():
        if sim.chance(BLEED_RATE):
            mask = sim.labels == key
            sim.labels[_dilate(mask, 1) & (sim.labels != VOID_ID)] = key


def _void_bands(sim: _Simulation) -> None:
    """Some segments lose their outermost pixel ring to void, as uncertain networks leave it unlabelled."""
    edge = boundary_mask(sim.labels)
    for key in sim.present():
        if sim.chance(VOID_BAND_RATE):
            sim.labels[edge & (sim.labels == key)] = VOID_ID


def _confidence(sim: _Simulation) -> np.ndarray:
    """Segment score, lowered towards segment boundaries and in wrongly painted blobs; 0 on void."""
    score = np.zeros(sim.labels.shape)
    for key in sim.present():
        score[sim.labels == key] = sim.segments[key].score
    dist = boundary_distance(sim.labels).astype(np.float64)
    factor = 1 - sim.noise * BOUNDARY_CONFIDENCE_DROP * np.exp(-(dist - 1) / 1.2)
    jitter = 1 - sim.noise * 0.04 * sim.rng.random(sim.labels.shape)
    conf = np.clip(score * sim.doubt * factor * jitter, 0.0, 1.0)
    conf[sim.labels == VOID_ID] = 0.0
    return conf


_DEFECTS = (_miss_small, _merge_neighbours, _stuff_patches, _score_and_confuse, _warp_boundaries, _bleed, _void_bands)
"""In order: decisions on whole segments first, then pixel-level boundary damage."""


def simulate_machine_mask(
    gt_ids: np.ndarray, gt_segments: Dict[int, SegmentInfo], rng: np.random.Generator, noise: float
) -> Tuple[PanopticFrame, np.ndarray, MaskStats]:
    """A 2D network's panoptic output for one frame: (mask with fresh ids, confidence, defect counts)."""
    segments = {k: _Segment(s.category_id, s.isthing) for k, s in sorted(gt_segments.items())}
    sim = _Simulation(gt_ids.copy(), segments, rng, noise, doubt=np.ones(gt_ids.shape))
    for step in _DEFECTS:
        step(sim)
    confidence = _confidence(sim)
    keys = sim.present()
    new_ids = _fresh_ids(rng, len(keys))
    lut = dict(zip(keys, new_ids))
    ids = np.zeros_like(sim.labels)
    for key, new in lut.items():
        ids[sim.labels == key] = new
    infos = sorted((SegmentInfo(lut[k], *astuple(sim.segments[k])) for k in keys), key=lambda s: s.id)
    return PanopticFrame(ids=ids, segments=infos), confidence, sim.stats
