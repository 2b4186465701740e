import torch

from nerfstudio.cameras.cameras import Cameras

from panoptic_nerfstudio.inference.panoptic_rule import (
    DROP_INSTANCE,
    KEEP_CLASS,
    POINTS_PER_PART,
    InstanceTable,
    PanopticPrediction,
    apply_instance_classes,
    infer_panoptic,
    instance_class_counts,
    resolve_instances,
)
from tests.models.conftest import make_model

THINGS = torch.tensor([False, False, True])  # wall, floor, chair


def _probs(rows):
    return torch.tensor(rows, dtype=torch.float32)


def _table(classes):
    """A table of one part per slot with these classes per instance id."""
    table = InstanceTable.unknown(len(classes) - 1)
    table.classes = torch.tensor(classes)
    return table


def test_rule_class_argmax_then_slot_on_things_only():
    semantics = _probs([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.2, 0.1, 0.7]])
    slots = _probs([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    pred = infer_panoptic(semantics, slots, THINGS)
    assert pred.semantics.tolist() == [0, 2, 2]
    assert pred.instance.tolist() == [0, 2, 1]  # stuff gets 0 even though slot 0 wins there; things get slot + 1
    assert torch.allclose(pred.confidence, torch.tensor([0.6, 0.7 * 0.8, 0.7 * 0.6]))
    assert pred.fallback.tolist() == [0, 1, 0]  # most likely stuff class of each pixel


def test_dropped_instances_take_their_most_likely_stuff_class():
    semantics = _probs([[0.1, 0.2, 0.7], [0.3, 0.1, 0.6], [0.6, 0.3, 0.1]])
    slots = _probs([[0.2, 0.8], [0.9, 0.1], [0.5, 0.5]])
    table = _table([KEEP_CLASS, KEEP_CLASS, DROP_INSTANCE])  # instance id 2 (slot 1) dropped
    pred = infer_panoptic(semantics, slots, THINGS, table)
    assert pred.semantics.tolist() == [1, 2, 0]
    assert pred.instance.tolist() == [0, 1, 0]
    assert torch.allclose(pred.confidence[0], torch.tensor(0.2))
    unresolved = infer_panoptic(semantics, slots, THINGS)
    assert apply_instance_classes(unresolved, table.classes).semantics.tolist() == pred.semantics.tolist()


def test_every_pixel_of_an_instance_takes_its_class():
    things = torch.tensor([False, True, True])  # wall, chair, sofa
    semantics = _probs([[0.1, 0.8, 0.1], [0.1, 0.3, 0.6], [0.9, 0.05, 0.05]])
    slots = _probs([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    pred = infer_panoptic(semantics, slots, things, _table([KEEP_CLASS, 1, KEEP_CLASS]))
    assert pred.semantics.tolist() == [1, 1, 0]  # the sofa-looking pixel of chair instance 1 reads chair
    assert pred.instance.tolist() == [1, 1, 0]


def test_without_stuff_classes_nothing_is_dropped():
    table = _table([DROP_INSTANCE] * 3)
    pred = infer_panoptic(_probs([[0.3, 0.7]]), _probs([[0.1, 0.9]]), torch.tensor([True, True]), table)
    assert pred.instance.tolist() == [2] and pred.semantics.tolist() == [1]


def _surface_table(points_per_instance):
    """Chair instances 1 and 2 (slots 0 and 1), each with this many stored points on a 0.1-wide square at x = 0 and
    x = 5, reach 0.5."""
    table = _table([KEEP_CLASS, 2, 2])
    square = torch.rand(points_per_instance, 3, generator=torch.Generator().manual_seed(0)) * 0.1
    table.points = torch.cat([square, square + 5])
    table.point_ids = torch.tensor([1] * points_per_instance + [2] * points_per_instance)
    table.reach = torch.tensor([float("inf"), 0.5, 0.5])
    return table


def test_a_thing_pixel_beyond_its_instance_reach_takes_its_stuff_class():
    # Four chair pixels of slot 0: on its surface, just within reach, beyond it (floor under the haze), and on the
    # surface of instance 2 far away; one floor pixel.
    semantics = _probs([[0.1, 0.2, 0.7]] * 3 + [[0.3, 0.2, 0.5], [0.1, 0.8, 0.1]])
    slots = _probs([[0.9, 0.1]] * 5)
    points = torch.tensor([[0.05, 0.05, 0.05], [0.5, 0.05, 0.05], [0.05, 1.0, 0.05], [5.05, 5.05, 5.05], [0, 0, 0]])
    dense = infer_panoptic(semantics, slots, THINGS, _surface_table(POINTS_PER_PART), points)
    assert dense.instance.tolist() == [1, 1, 0, 0, 0]
    assert dense.semantics.tolist() == [2, 2, 1, 0, 1]  # the most likely stuff class of each, not a third class
    assert torch.allclose(dense.confidence[2:4], torch.tensor([0.2, 0.3]))
    # An instance of few stored points is tested too (their reach is what the table knows of the object).
    sparse = infer_panoptic(semantics, slots, THINGS, _surface_table(8), points)
    assert sparse.instance.tolist() == [1, 1, 0, 0, 0]
    # Without surface points, or told to leave it (per-sample labels mark such samples part of no object instead).
    assert infer_panoptic(semantics, slots, THINGS, _surface_table(POINTS_PER_PART)).instance.tolist() == [1] * 4 + [0]
    table = _surface_table(POINTS_PER_PART)
    kept = infer_panoptic(semantics, slots, THINGS, table, points, beyond_reach_is_stuff=False)
    assert kept.instance.tolist() == [1, 1, 1, 1, 0]


def test_resolution_takes_majority_classes_and_drops_small_instances():
    semantics = torch.tensor([0] * 900 + [2] * 60 + [1] * 35 + [2] * 5)
    instance = torch.tensor([0] * 900 + [1] * 95 + [3] * 5)
    pred = PanopticPrediction(semantics, instance, torch.ones(1000), torch.zeros(1000, dtype=torch.long), torch.ones(1000))
    counts = instance_class_counts(pred, num_ids=5, num_classes=3)
    assert counts.sum(dim=1).tolist() == [900, 95, 0, 5, 0]
    assert counts[1].tolist() == [0, 35, 60]
    assert resolve_instances(counts, 0.01).tolist() == [KEEP_CLASS, 2, KEEP_CLASS, DROP_INSTANCE, KEEP_CLASS]
    assert resolve_instances(counts, 0.0).tolist() == [KEEP_CLASS, 2, KEEP_CLASS, 2, KEEP_CLASS]  # nothing dropped
    assert resolve_instances(counts, 0.5).tolist() == [KEEP_CLASS, DROP_INSTANCE, KEEP_CLASS, DROP_INSTANCE, KEEP_CLASS]


def test_calibration_sets_the_checkpointed_mask_used_by_viewer_outputs():
    torch.manual_seed(0)
    model = make_model(num_instance_slots=4, min_instance_area=1.5)
    model.heads.semantic.register_forward_hook(lambda module, inputs, out: out + torch.tensor([0.0, 0.0, 10.0]))
    model.scene_box.aabb = torch.tensor([[-1e3] * 3, [1e3] * 3])  # an untrained field's surfaces lie anywhere
    assert "instance_classes" in model.state_dict()
    assert (model.instance_classes == KEEP_CLASS).all()  # nothing known before calibration
    cameras = Cameras(
        camera_to_worlds=torch.eye(4)[None, :3].clone() + torch.tensor([[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 2.0]]),
        fx=20.0, fy=20.0, cx=8.0, cy=6.0, width=16, height=12,
    )
    model.train()
    dropped = model.calibrate_instances(cameras, masks=None, downscale=2)
    assert model.training  # restored
    assert dropped == int((model.instance_classes == DROP_INSTANCE).sum())
    # Above 1, every instance that rendered at all is too small, so no view shows a thing any more.
    model.eval()
    bundle = cameras.generate_rays(camera_indices=0, keep_shape=True)
    outputs = model.get_outputs_for_camera_ray_bundle(bundle)
    raw = infer_panoptic(outputs["semantics"], outputs["instances"], model.thing_mask)
    assert bool((raw.instance > 0).any()) and dropped > 0  # chair wins everywhere
    assert (outputs["instance_id"] == 0).all()
