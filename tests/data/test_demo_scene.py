"""The synthetic demo scene: format contract, determinism, ground truth and simulated 2D-network defects."""

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest
from PIL import Image

from panoptic_nerfstudio.data import demo_scene
from panoptic_nerfstudio.data.demo_scene import CLASSES, DemoSceneConfig, write_demo_scene
from panoptic_nerfstudio.data.panoptic_format import (
    PanopticFrame,
    SegmentInfo,
    read_classes,
    read_confidence,
    read_panoptic,
)

SMALL = DemoSceneConfig(seed=3, width=48, height=36, frames=6, eval_every=3)
LAYERS = ("panoptic", "confidence", "gt_panoptic")


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "scene"
    write_demo_scene(out, SMALL)
    return out


@pytest.fixture(scope="module")
def clean_scene(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clean") / "scene"
    write_demo_scene(out, DemoSceneConfig(seed=3, width=48, height=36, frames=6, eval_every=3, noise=0.0))
    return out


def _stems(scene: Path) -> List[str]:
    meta = json.loads((scene / "transforms.json").read_text())
    return [Path(f["file_path"]).stem for f in meta["frames"]]


def _frames(scene: Path, folder: str) -> List[PanopticFrame]:
    return [read_panoptic(scene / folder / f"{stem}.png") for stem in _stems(scene)]


def _files(root: Path) -> Dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _pairs(machine: PanopticFrame, gt: PanopticFrame) -> Counter:
    """Pixel counts of (gt id, machine id) pairs."""
    return Counter(zip(gt.ids.ravel().tolist(), machine.ids.ravel().tolist()))


# ----------------------------------------------------------------------------- layout and format


def test_layout_sizes_and_frame_count(scene):
    meta = json.loads((scene / "transforms.json").read_text())
    assert (meta["w"], meta["h"]) == (48, 36) and meta["camera_model"] == "OPENCV"
    assert len(meta["frames"]) == 6
    assert [f["file_path"] for f in meta["frames"]] == [f"images/frame_{k:05d}.png" for k in range(6)]
    for stem in _stems(scene):
        with Image.open(scene / "images" / f"{stem}.png") as img:
            assert img.size == (48, 36) and img.mode == "RGB"
        for folder in LAYERS:
            assert (scene / folder / f"{stem}.png").exists()
        assert read_confidence(scene / "confidence" / f"{stem}.png").shape == (36, 48)
    for folder in ("panoptic", "gt_panoptic"):
        assert all(frame.ids.shape == (36, 48) for frame in _frames(scene, folder))


def test_held_out_frames_are_every_eval_every_th(scene):
    meta = json.loads((scene / "transforms.json").read_text())
    names = [f["file_path"] for f in meta["frames"]]
    assert meta["val_filenames"] == meta["test_filenames"] == [names[0], names[3]]
    assert meta["train_filenames"] == [names[i] for i in (1, 2, 4, 5)]


def test_class_table_is_sparse_with_stuff_and_things(scene):
    table = read_classes(scene / "panoptic_classes.json")
    assert table.categories == CLASSES.categories
    ids = [c.id for c in table.categories]
    assert ids != list(range(len(ids)))
    assert sum(c.isthing for c in table.categories) >= 3 and sum(not c.isthing for c in table.categories) >= 4


@pytest.mark.parametrize("folder", ["panoptic", "gt_panoptic"])
def test_segments_info_lists_exactly_the_ids_in_the_png(scene, folder):
    table = read_classes(scene / "panoptic_classes.json")
    for frame in _frames(scene, folder):
        present = set(np.unique(frame.ids).tolist()) - {0}
        assert present == {s.id for s in frame.segments}
        for s in frame.segments:
            assert s.category_id in table and s.isthing == table.by_id(s.category_id).isthing
            assert 0.0 <= s.score <= 1.0


@pytest.mark.parametrize("folder", ["panoptic", "gt_panoptic"])
def test_at_most_one_segment_per_stuff_class(scene, folder):
    for frame in _frames(scene, folder):
        stuff = Counter(s.category_id for s in frame.segments if not s.isthing)
        assert stuff and max(stuff.values()) == 1


# ----------------------------------------------------------------------------- determinism


def test_same_config_gives_identical_files_and_another_seed_differs(tmp_path, scene):
    again = tmp_path / "again"
    write_demo_scene(again, SMALL)
    assert _files(again) == _files(scene)

    other = tmp_path / "other"
    write_demo_scene(other, DemoSceneConfig(seed=4, width=48, height=36, frames=6, eval_every=3))
    first, second = _files(scene), _files(other)
    assert first.keys() == second.keys()
    for folder in ("images", "panoptic", "confidence"):
        assert any(first[k] != second[k] for k in first if k.startswith(folder + "/"))


def test_rewriting_a_demo_scene_replaces_it_and_other_directories_are_refused(tmp_path):
    out = tmp_path / "scene"
    write_demo_scene(out, DemoSceneConfig(width=16, height=12, frames=6, eval_every=3))
    write_demo_scene(out, DemoSceneConfig(width=16, height=12, frames=4, eval_every=2))
    assert len(list((out / "images").iterdir())) == 4 and len(list((out / "panoptic").glob("*.png"))) == 4

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        write_demo_scene(foreign, DemoSceneConfig(width=16, height=12, frames=4, eval_every=2))
    assert (foreign / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "bad", [dict(width=4), dict(frames=1), dict(eval_every=1), dict(noise=-0.5), dict(noise=float("nan"))]
)
def test_bad_configs_are_rejected(tmp_path, bad):
    with pytest.raises(ValueError):
        write_demo_scene(tmp_path / "x", DemoSceneConfig(**{**dict(width=16, height=12, frames=4), **bad}))


# ----------------------------------------------------------------------------- ground truth


def test_ground_truth_ids_are_consistent_across_frames_and_leave_no_void(scene):
    category_of: Dict[int, set] = defaultdict(set)
    for frame in _frames(scene, "gt_panoptic"):
        assert (frame.ids != 0).all()
        for s in frame.segments:
            category_of[s.id].add(s.category_id)
            assert s.score == 1.0
    assert all(len(c) == 1 for c in category_of.values())
    things = [i for i, c in category_of.items() if CLASSES.by_id(next(iter(c))).isthing]
    assert len(things) >= 6  # many thing instances are seen even in six tiny views
    assert len({next(iter(category_of[i])) for i in things}) >= 3


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_ground_truth_matches_the_rays_nerfstudio_casts(scene):
    """Labels follow nerfstudio's pixel-centre rays and OpenGL camera-to-world poses."""
    import torch
    from nerfstudio.cameras.cameras import Cameras, CameraType

    meta = json.loads((scene / "transforms.json").read_text())
    objects = demo_scene.build_scene(SMALL.seed)
    intr = demo_scene._intrinsics(meta["w"], meta["h"])
    for frame, gt in zip(meta["frames"], _frames(scene, "gt_panoptic")):
        c2w = np.array(frame["transform_matrix"])
        camera = Cameras(
            camera_to_worlds=torch.tensor(c2w[:3], dtype=torch.float64)[None],
            fx=meta["fl_x"],
            fy=meta["fl_y"],
            cx=meta["cx"],
            cy=meta["cy"],
            width=meta["w"],
            height=meta["h"],
            camera_type=CameraType.PERSPECTIVE,
        )
        directions = camera.generate_rays(camera_indices=0).directions.reshape(-1, 3).double().numpy().T
        hits = demo_scene.trace(objects, demo_scene._RayGrid(c2w, intr, 1, np.ascontiguousarray(directions)))
        labels = np.array([o.gt_id for o in objects])[hits.obj].reshape(gt.ids.shape)
        assert (labels == gt.ids).mean() > 0.995


def test_cameras_orbit_the_furniture_and_look_inwards(scene):
    meta = json.loads((scene / "transforms.json").read_text())
    azimuths = []
    for frame in meta["frames"]:
        c2w = np.array(frame["transform_matrix"])
        rot, pos = c2w[:3, :3], c2w[:3, 3]
        assert np.allclose(rot.T @ rot, np.eye(3), atol=1e-6) and np.isclose(np.linalg.det(rot), 1.0)
        assert 2.0 <= np.hypot(pos[0], pos[1]) <= 2.3 and 0.8 <= pos[2] <= 1.9
        view = -rot[:, 2]  # the camera looks down its -Z
        to_centre = np.array([-pos[0], -pos[1], 0.7 - pos[2]])
        assert view @ to_centre / np.linalg.norm(to_centre) > 0.9
        assert rot[2, 1] > 0  # +Y is up: no roll past the horizon
        azimuths.append(np.arctan2(pos[1], pos[0]))
    steps = np.diff(np.unwrap(azimuths))
    assert (steps > 0).all()  # one monotone orbit: held-out views lie between training views


# ----------------------------------------------------------------------------- machine masks


def test_machine_ids_are_fresh_in_every_frame(scene):
    """The same physical object gets unrelated ids in different frames, stuff included."""
    ids_of: Dict[int, List[int]] = defaultdict(list)
    for machine, gt in zip(_frames(scene, "panoptic"), _frames(scene, "gt_panoptic")):
        best: Dict[int, Tuple[int, int]] = {}
        for (g, m), n in _pairs(machine, gt).items():
            if m and n > best.get(g, (0, 0))[1]:
                best[g] = (m, n)
        for g, (m, _) in best.items():
            ids_of[g].append(m)
    repeated = [ids for ids in ids_of.values() if len(ids) >= 2]
    assert len(repeated) >= 5
    assert all(len(set(ids)) == len(ids) for ids in repeated)


def test_without_noise_masks_equal_ground_truth_up_to_per_frame_relabelling(clean_scene):
    frames = zip(_stems(clean_scene), _frames(clean_scene, "panoptic"), _frames(clean_scene, "gt_panoptic"))
    for stem, machine, gt in frames:
        pairs = set(_pairs(machine, gt))
        assert len({g for g, _ in pairs}) == len({m for _, m in pairs}) == len(pairs)  # a bijection
        assert all(m != 0 for _, m in pairs)
        gt_info, machine_info = gt.segment_table(), machine.segment_table()
        for g, m in pairs:
            assert machine_info[m].category_id == gt_info[g].category_id
            assert machine_info[m].isthing == gt_info[g].isthing and machine_info[m].score == 1.0
        assert (read_confidence(clean_scene / "confidence" / f"{stem}.png") == 1.0).all()


def test_default_noise_gives_imperfect_but_mostly_right_masks(scene, clean_scene):
    wrong = void = total = 0
    for machine, gt in zip(_frames(scene, "panoptic"), _frames(scene, "gt_panoptic")):
        cat_m = {s.id: s.category_id for s in machine.segments}
        cat_g = {s.id: s.category_id for s in gt.segments}
        for (g, m), n in _pairs(machine, gt).items():
            total += n
            void += n if m == 0 else 0
            wrong += n if m != 0 and cat_m[m] != cat_g[g] else 0
    assert 0.0 < void / total < 0.15
    assert 0.01 < wrong / total < 0.35
    fewer = sum(len(f.segments) for f in _frames(scene, "panoptic"))
    assert fewer < sum(len(f.segments) for f in _frames(clean_scene, "panoptic"))  # missed and merged instances


def test_noise_scales_the_defects(tmp_path):
    def accuracy(noise: float) -> float:
        config = DemoSceneConfig(seed=1, width=40, height=30, frames=6, eval_every=3, noise=noise)
        return write_demo_scene(tmp_path / str(noise), config).mask_class_accuracy

    assert accuracy(0.0) == 1.0 > accuracy(0.5) > accuracy(2.0)


def test_confidence_is_in_unit_range_and_lower_at_boundaries(scene):
    at_edge, inside = [], []
    for stem, machine in zip(_stems(scene), _frames(scene, "panoptic")):
        conf = read_confidence(scene / "confidence" / f"{stem}.png")
        assert conf.min() >= 0.0 and conf.max() <= 1.0
        labelled = machine.ids != 0
        dist = demo_scene.boundary_distance(machine.ids)
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
    low = [s for f in _frames(out, "panoptic") for s in f.segments if s.isthing and s.score < 0.56]
    assert 1 <= len(low) <= summary.confused_segments
    assert all(0.3 <= s.score for s in low)


# ----------------------------------------------------------------------------- nerfstudio


def test_nerfstudio_dataparser_loads_the_splits(scene):
    from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig

    parser = NerfstudioDataParserConfig(data=scene).setup()
    counts = {split: len(parser.get_dataparser_outputs(split).image_filenames) for split in ("train", "val", "test")}
    assert counts == {"train": 4, "val": 2, "test": 2}
    outputs = parser.get_dataparser_outputs("train")
    assert int(outputs.cameras.width[0]) == 48 and int(outputs.cameras.height[0]) == 36


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
        machine, _, _ = demo_scene.simulate_machine_mask(ids, segments, np.random.default_rng(seed), 1.0)
        merged += machine.ids[20, 17] == machine.ids[20, 32]
        lamp = machine.ids[5, 51]
        missed += lamp == 0 or not machine.segment_table()[lamp].isthing
    assert 5 <= merged <= 35 and 5 <= missed <= 35
