"""Camera paths: the default orbit that the method was tuned on, and the tour with close-ups and views looking up."""

import json
from typing import List

import numpy as np
import pytest

from panoptic_nerfstudio.demo_scene import LAYOUTS, DemoSceneConfig, build_scene, write_demo_scene
from panoptic_nerfstudio.demo_scene.cameras import TOUR_PATTERN
from tests.demo_scene.conftest import BENCHMARK_LAYOUTS, QUARTER
from tests.demo_scene.scene_files import frames


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


# ----------------------------------------------------------------------------- tour


def _kinds(count: int) -> List[str]:
    return [TOUR_PATTERN[k % len(TOUR_PATTERN)] for k in range(count)]


@pytest.mark.parametrize("layout", BENCHMARK_LAYOUTS)
def test_tour_close_ups_are_within_a_metre_of_a_visible_thing(layout_scenes, layout):
    scene = layout_scenes[layout]
    meta = json.loads((scene / "transforms.json").read_text())
    things = [obj for obj in build_scene(QUARTER["seed"], layout) if obj.isthing]
    close = []
    for kind, frame, gt in zip(_kinds(len(meta["frames"])), meta["frames"], frames(scene, "gt_panoptic")):
        if kind != "close-up":
            continue
        position = np.array(frame["transform_matrix"])[:3, 3]
        near = [
            obj
            for obj in things
            if min(np.linalg.norm(position - np.clip(position, *p.bounds())) for p in obj.primitives) <= 1.0
        ]
        close.append(any((gt.ids == obj.gt_id).mean() >= 0.01 for obj in near))
    assert len(close) >= 5 and np.mean(close) >= 0.8


@pytest.mark.parametrize("layout", BENCHMARK_LAYOUTS)
def test_tour_looks_up_and_keeps_every_camera_inside_the_room_and_out_of_the_furniture(layout_scenes, layout):
    meta = json.loads((layout_scenes[layout] / "transforms.json").read_text())
    spec = LAYOUTS[layout]
    boxes = [p.bounds() for obj in build_scene(QUARTER["seed"], layout) for p in obj.primitives]
    up = []
    for kind, frame in zip(_kinds(len(meta["frames"])), meta["frames"]):
        c2w = np.array(frame["transform_matrix"])
        position, view = c2w[:3, 3], -c2w[:3, 2]
        assert np.abs(position[:2]).max() < spec.half and 0 < position[2] < spec.height
        assert not any(np.all(position > lo) and np.all(position < hi) for lo, hi in boxes if np.all(hi > lo))
        assert c2w[2, 1] > 0  # no roll past the horizon
        if kind == "look-up":
            up.append(view[2] > np.sin(np.radians(12)))
    assert len(up) >= 5 and all(up)


def test_a_layout_filmed_on_the_orbit_has_the_default_camera_poses(tmp_path):
    config = dict(seed=4, width=16, height=12, frames=6, eval_every=3)
    write_demo_scene(tmp_path / "default", DemoSceneConfig(**config))
    write_demo_scene(tmp_path / "thin", DemoSceneConfig(layout="thin", cameras="orbit", **config))
    write_demo_scene(tmp_path / "tour", DemoSceneConfig(cameras="tour", **config))
    poses = {
        name: [f["transform_matrix"] for f in json.loads((tmp_path / name / "transforms.json").read_text())["frames"]]
        for name in ("default", "thin", "tour")
    }
    assert poses["thin"] == poses["default"]
    kinds = _kinds(6)
    assert all((a == b) == (kind == "orbit") for kind, a, b in zip(kinds, poses["tour"], poses["default"]))


def test_unknown_layouts_and_camera_paths_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="layout"):
        write_demo_scene(tmp_path / "x", DemoSceneConfig(layout="attic", width=16, height=12, frames=4))
    with pytest.raises(ValueError, match="cameras"):
        write_demo_scene(tmp_path / "y", DemoSceneConfig(cameras="drone", width=16, height=12, frames=4))
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
