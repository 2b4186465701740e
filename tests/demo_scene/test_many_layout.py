"""The ``many`` and ``many60`` layouts: more thing objects than the slot head's 32 slots, a valid scene, seen in its
frames."""

import numpy as np
import pytest

from panoptic_nerfstudio.data.validation import validate_scene
from panoptic_nerfstudio.demo_scene import DemoSceneConfig, build_scene, write_demo_scene
from panoptic_nerfstudio.demo_scene.classes import STUFF_GT_ID_STRIDE
from panoptic_nerfstudio.method_configs import panoptic_lifting_lite_config
from tests.demo_scene.scene_files import frames


@pytest.mark.parametrize("layout, count", [("many", 48), ("many60", 60)])
def test_the_many_layouts_have_more_things_than_slots(layout, count):
    things = [obj for obj in build_scene(0, layout) if obj.isthing]
    assert len(things) == count > panoptic_lifting_lite_config().pipeline.model.num_instance_slots
    assert len({obj.gt_id for obj in things}) == count
    centres = np.array([(obj.bounds()[0] + obj.bounds()[1])[:2] / 2 for obj in things])
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1) + np.eye(count) * 10
    assert gaps.min() > 0.3  # apart on the grid, none overlapping another or the table's cells


def test_the_many_layout_is_a_valid_scene_whose_frames_show_most_of_its_objects(tmp_path):
    scene = tmp_path / "many"
    write_demo_scene(scene, DemoSceneConfig(layout="many", width=80, height=60, frames=12, eval_every=4))
    report = validate_scene(scene)
    assert report.ok, report.problems
    seen = set()
    for gt in frames(scene, "gt_panoptic"):
        seen |= {s.id for s in gt.segments if s.id % STUFF_GT_ID_STRIDE}
    assert len(seen) >= 40
