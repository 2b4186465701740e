"""The simulated 2D network: fresh ids per frame, and defects that scale with the noise setting."""

from collections import defaultdict
from typing import Dict, List, Tuple

import numpy as np

from panoptic_nerfstudio.data.panoptic_format import SegmentInfo, read_confidence
from panoptic_nerfstudio.demo_scene import DemoSceneConfig, write_demo_scene
from panoptic_nerfstudio.demo_scene.mask_defects import boundary_distance, simulate_machine_mask
from tests.demo_scene.scene_files import frames, pixel_pairs, stems


def test_machine_ids_are_fresh_in_every_frame(scene):
    """The same physical object gets unrelated ids in different frames, stuff included."""
    ids_of: Dict[int, List[int]] = defaultdict(list)
    for machine, gt in zip(frames(scene, "panoptic"), frames(scene, "gt_panoptic")):
        best: Dict[int, Tuple[int, int]] = {}
        for (g, m), n in pixel_pairs(machine, gt).items():
            if m and n > best.get(g, (0, 0))[1]:
                best[g] = (m, n)
        for g, (m, _) in best.items():
            ids_of[g].append(m)
    repeated = [ids for ids in ids_of.values() if len(ids) >= 2]
    assert len(repeated) >= 5
    assert all(len(set(ids)) == len(ids) for ids in repeated)


def test_without_noise_masks_equal_ground_truth_up_to_per_frame_relabelling(clean_scene):
    scene_frames = zip(stems(clean_scene), frames(clean_scene, "panoptic"), frames(clean_scene, "gt_panoptic"))
    for stem, machine, gt in scene_frames:
        pairs = set(pixel_pairs(machine, gt))
        assert len({g for g, _ in pairs}) == len({m for _, m in pairs}) == len(pairs)  # a bijection
        assert all(m != 0 for _, m in pairs)
        gt_info, machine_info = gt.segment_table(), machine.segment_table()
        for g, m in pairs:
            assert machine_info[m].category_id == gt_info[g].category_id
            assert machine_info[m].isthing == gt_info[g].isthing and machine_info[m].score == 1.0
        assert (read_confidence(clean_scene / "confidence" / f"{stem}.png") == 1.0).all()


def test_default_noise_gives_imperfect_but_mostly_right_masks(scene, clean_scene):
    wrong = void = total = 0
    for machine, gt in zip(frames(scene, "panoptic"), frames(scene, "gt_panoptic")):
        cat_m = {s.id: s.category_id for s in machine.segments}
        cat_g = {s.id: s.category_id for s in gt.segments}
        for (g, m), n in pixel_pairs(machine, gt).items():
            total += n
            void += n if m == 0 else 0
            wrong += n if m != 0 and cat_m[m] != cat_g[g] else 0
    assert 0.0 < void / total < 0.15
    assert 0.01 < wrong / total < 0.35
    fewer = sum(len(f.segments) for f in frames(scene, "panoptic"))
    assert fewer < sum(len(f.segments) for f in frames(clean_scene, "panoptic"))  # missed and merged instances


def test_noise_scales_the_defects(tmp_path):
    def accuracy(noise: float) -> float:
        config = DemoSceneConfig(seed=1, width=40, height=30, frames=6, eval_every=3, noise=noise)
        return write_demo_scene(tmp_path / str(noise), config).mask_class_accuracy

    assert accuracy(0.0) == 1.0 > accuracy(0.5) > accuracy(2.0)


def test_confidence_is_in_unit_range_and_lower_at_boundaries(scene):
    at_edge, inside = [], []
    for stem, machine in zip(stems(scene), frames(scene, "panoptic")):
        conf = read_confidence(scene / "confidence" / f"{stem}.png")
        assert conf.min() >= 0.0 and conf.max() <= 1.0
        labelled = machine.ids != 0
        dist = boundary_distance(machine.ids)
        at_edge.append(conf[labelled & (dist == 1)])
        inside.append(conf[labelled & (dist >= 3)])
        for s in machine.segments:  # never above the segment's score
            assert conf[machine.ids == s.id].max() <= s.score + 1e-4
    assert np.concatenate(at_edge).mean() < np.concatenate(inside).mean() - 0.15


def test_some_thing_segments_are_confused_with_low_scores(tmp_path):
    config = DemoSceneConfig(seed=0, width=64, height=48, frames=12, eval_every=4)
    out = tmp_path / "scene"
    summary = write_demo_scene(out, config)
    assert summary.confused_segments > 0
    low = [s for f in frames(out, "panoptic") for s in f.segments if s.isthing and s.score < 0.56]
    assert 1 <= len(low) <= summary.confused_segments
    assert all(0.3 <= s.score for s in low)


def test_touching_instances_sometimes_merge_and_small_ones_sometimes_vanish():
    ids = np.full((40, 60), 1000, dtype=np.int64)  # wall
    ids[10:30, 10:25], ids[10:30, 25:40] = 5001, 5002  # two chairs side by side
    ids[4:7, 50:53] = 11001  # a lamp of nine pixels
    segments = {
        1000: SegmentInfo(1000, 1, False),
        5001: SegmentInfo(5001, 5, True),
        5002: SegmentInfo(5002, 5, True),
        11001: SegmentInfo(11001, 11, True),
    }
    merged = missed = 0
    for seed in range(40):
        machine, _, _ = simulate_machine_mask(ids, segments, np.random.default_rng(seed), 1.0)
        merged += machine.ids[20, 17] == machine.ids[20, 32]
        lamp = machine.ids[5, 51]
        missed += lamp == 0 or not machine.segment_table()[lamp].isthing
    assert 5 <= merged <= 35 and 5 <= missed <= 35
