"""Ray casting: the ground truth is what nerfstudio's own pixel rays hit."""

import json

import numpy as np
import pytest

from panoptic_nerfstudio.demo_scene.cameras import intrinsics
from panoptic_nerfstudio.demo_scene.geometry import RayGrid, trace
from panoptic_nerfstudio.demo_scene.layouts import build_scene
from tests.demo_scene.conftest import SMALL
from tests.demo_scene.scene_files import frames


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_ground_truth_matches_the_rays_nerfstudio_casts(scene):
    """Labels follow nerfstudio's pixel-centre rays and OpenGL camera-to-world poses."""
    import torch
    from nerfstudio.cameras.cameras import Cameras, CameraType

    meta = json.loads((scene / "transforms.json").read_text())
    objects = build_scene(SMALL.seed)
    intr = intrinsics(meta["w"], meta["h"])
    for frame, gt in zip(meta["frames"], frames(scene, "gt_panoptic")):
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
        hits = trace(objects, RayGrid(c2w, intr, 1, np.ascontiguousarray(directions)))
        labels = np.array([o.gt_id for o in objects])[hits.obj].reshape(gt.ids.shape)
        assert (labels == gt.ids).mean() > 0.995
