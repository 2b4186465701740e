"""The ``many`` layout: more thing objects than the slot head's 32 slots, a valid scene, seen in its frames."""

from panoptic_nerfstudio.data.validation import validate_scene
from panoptic_nerfstudio.demo_scene import DemoSceneConfig, build_scene, write_demo_scene
from panoptic_nerfstudio.demo_scene.classes import STUFF_GT_ID_STRIDE
from panoptic_nerfstudio.method_configs import panoptic_lifting_lite_config
from tests.demo_scene.scene_files import frames


def test_the_many_layout_has_more_things_than_slots():
    things = [obj for obj in build_scene(0, "many") if obj.isthing]
    assert len(things) == 48 > panoptic_lifting_lite_config().pipeline.model.num_instance_slots
    assert len({obj.gt_id for obj in things}) == 48


def test_the_many_layout_is_a_valid_scene_whose_frames_show_most_of_its_objects(tmp_path):
    scene = tmp_path / "many"
    write_demo_scene(scene, DemoSceneConfig(layout="many", width=80, height=60, frames=12, eval_every=4))
    report = validate_scene(scene)
    assert report.ok, report.problems
    seen = set()
    for gt in frames(scene, "gt_panoptic"):
        seen |= {s.id for s in gt.segments if s.id % STUFF_GT_ID_STRIDE}
    assert len(seen) >= 40
