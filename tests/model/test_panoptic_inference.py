import torch

from nerfstudio.cameras.cameras import Cameras

from panoptic_nerfstudio.model.panoptic_inference import (
    infer_panoptic,
    instance_areas,
    small_instances,
    suppress_instances,
)
from tests.model.conftest import make_model

THINGS = torch.tensor([False, False, True])  # wall, floor, chair


def _probs(rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_rule_class_argmax_then_slot_on_things_only():
    semantics = _probs([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.2, 0.1, 0.7]])
    slots = _probs([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    pred = infer_panoptic(semantics, slots, THINGS)
    assert pred.semantics.tolist() == [0, 2, 2]
    assert pred.instance.tolist() == [0, 2, 1]  # stuff gets 0 even though slot 0 wins there; things get slot + 1
    assert torch.allclose(pred.confidence, torch.tensor([0.6, 0.7 * 0.8, 0.7 * 0.6]))
    assert pred.fallback.tolist() == [0, 1, 0]  # most likely stuff class of each pixel


def test_suppressed_instances_take_their_most_likely_stuff_class():
    semantics = _probs([[0.1, 0.2, 0.7], [0.3, 0.1, 0.6], [0.6, 0.3, 0.1]])
    slots = _probs([[0.2, 0.8], [0.9, 0.1], [0.5, 0.5]])
    suppressed = torch.tensor([False, False, True])  # instance id 2 (slot 1)
    pred = infer_panoptic(semantics, slots, THINGS, suppressed)
    assert pred.semantics.tolist() == [1, 2, 0]
    assert pred.instance.tolist() == [0, 1, 0]
    assert torch.allclose(pred.confidence[0], torch.tensor(0.2))
    unsuppressed = infer_panoptic(semantics, slots, THINGS)
    assert suppress_instances(unsuppressed, suppressed).semantics.tolist() == pred.semantics.tolist()


def test_without_stuff_classes_nothing_is_suppressed():
    pred = infer_panoptic(_probs([[0.3, 0.7]]), _probs([[0.1, 0.9]]), torch.tensor([True, True]), torch.ones(3, dtype=torch.bool))
    assert pred.instance.tolist() == [2] and pred.semantics.tolist() == [1]


def test_small_instances_are_present_ones_under_the_area_fraction():
    instance = torch.tensor([0] * 900 + [1] * 95 + [3] * 5)
    areas = instance_areas(instance, num_slots=4)
    assert areas.tolist() == [900, 95, 0, 5, 0]
    assert small_instances(areas, 0.01).tolist() == [False, False, False, True, False]  # unused ids are not "dropped"
    assert not small_instances(areas, 0.0).any()
    assert small_instances(areas, 0.5).tolist() == [False, True, False, True, False]  # stuff (0) is never dropped


def test_calibration_sets_the_checkpointed_mask_used_by_viewer_outputs():
    torch.manual_seed(0)
    model = make_model(num_instance_slots=4, min_instance_area=1.5)
    model.heads.semantic.register_forward_hook(lambda module, inputs, out: out + torch.tensor([0.0, 0.0, 10.0]))
    assert "suppressed_instances" in model.state_dict()
    cameras = Cameras(
        camera_to_worlds=torch.eye(4)[None, :3].clone() + torch.tensor([[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 2.0]]),
        fx=20.0, fy=20.0, cx=8.0, cy=6.0, width=16, height=12,
    )
    model.train()
    dropped = model.calibrate_small_instances(cameras, downscale=2)
    assert model.training  # restored
    assert dropped == int(model.suppressed_instances.sum())
    # Above 1, every instance that rendered at all is too small, so no view shows a thing any more.
    model.eval()
    bundle = cameras.generate_rays(camera_indices=0, keep_shape=True)
    outputs = model.get_outputs_for_camera_ray_bundle(bundle)
    raw = infer_panoptic(outputs["semantics"], outputs["instances"], model.thing_mask)
    assert bool((raw.instance > 0).any()) and dropped > 0  # chair wins everywhere
    assert (outputs["raw-instance"] == 0).all()
