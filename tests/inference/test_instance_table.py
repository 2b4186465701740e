"""The instance table: a slot covering objects far apart becomes several 3D instances, each with its own class."""

import torch

from nerfstudio.cameras.cameras import Cameras
from nerfstudio.data.scene_box import SceneBox

from panoptic_nerfstudio.inference.instance_table import (
    ViewSamples,
    calibrate_from_dataset,
    resolve_table,
    samples_over_views,
    surface_box,
)
from panoptic_nerfstudio.inference.panoptic_rule import (
    DROP_INSTANCE,
    KEEP_CLASS,
    InstanceTable,
    beyond_reach,
    infer_panoptic,
)
from tests.models.conftest import make_model

CABINET, LAMP = 2, 3
THINGS = torch.tensor([False, False, True, True])


def _blob(center, count, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.tensor(center) + 0.05 * torch.rand(count, 3, generator=g)


def _two_objects_in_one_slot(stuff_pixels=400):
    """Slot 0 labels a cabinet (300 points) and, 1 unit away, a lamp (100); slot 1 a small far object (3 points)."""
    points = torch.cat([_blob([0.0, 0, 0], 300, 0), _blob([1.0, 0, 0], 100, 1), _blob([-1.0, 0, 0], 3, 2)])
    slots = torch.tensor([0] * 400 + [1] * 3)
    classes = torch.tensor([CABINET] * 300 + [LAMP] * 90 + [CABINET] * 10 + [LAMP] * 3)
    return ViewSamples(slots, classes, points, torch.full((403,), 0.01), stuff_pixels)


def test_a_slot_covering_two_distant_objects_becomes_two_instances_with_their_own_classes():
    table = resolve_table(_two_objects_in_one_slot(), num_slots=4, num_classes=4, min_area_fraction=0.01)
    assert len(table.classes) == 6  # ids 0..4 for the slots, plus id 5: the second part of slot 0
    assert table.slots.tolist() == [-1, 0, 1, 2, 3, 0]
    assert table.classes[1] == CABINET and table.classes[5] == LAMP  # the lamp is no longer labelled cabinet
    assert table.classes[2] == DROP_INSTANCE  # 3 of 803 pixels
    assert table.classes[3] == KEEP_CLASS and table.classes[0] == KEEP_CLASS

    # Rendering: pixels of slot 0 take the id of the part their surface point is nearest.
    semantics = torch.tensor([[0, 0, 0.1, 0.9], [0, 0, 0.9, 0.1], [0.9, 0.1, 0, 0]])
    slots = torch.tensor([[1.0, 0, 0, 0], [1.0, 0, 0, 0], [1.0, 0, 0, 0]])
    points = torch.tensor([[0.02, 0.02, 0.02], [0.98, 0.0, 0.03], [0.5, 0.5, 0.5]])
    prediction = infer_panoptic(semantics, slots, THINGS, table, points)
    assert prediction.instance.tolist() == [1, 5, 0]
    assert prediction.semantics.tolist() == [CABINET, LAMP, 0]  # each part's own class; stuff untouched


def test_the_ablation_keeps_one_instance_per_slot():
    table = resolve_table(_two_objects_in_one_slot(), 4, 4, 0.01, split_slots=False)
    assert len(table.classes) == 5 and table.classes[1] == CABINET and set(table.point_ids.tolist()) == {1, 2}


def test_without_a_gap_a_slot_stays_one_instance():
    samples = _two_objects_in_one_slot()
    samples.points[300:400] = _blob([0.04, 0, 0], 100, 1)  # the lamp now touches the cabinet
    table = resolve_table(samples, num_slots=4, num_classes=4, min_area_fraction=0.01)
    assert len(table.classes) == 5 and set(table.slots[table.point_ids].tolist()) == {0, 1}
    assert table.classes[1] == CABINET  # majority of the merged pixels


def test_the_model_saves_and_loads_a_table_of_any_size():
    model = make_model(num_instance_slots=4)
    table = resolve_table(_two_objects_in_one_slot(), num_slots=4, num_classes=3 + 1, min_area_fraction=0.01)
    model.set_instance_table(table)
    fresh = make_model(num_instance_slots=4)
    assert len(fresh.instance_classes) == 5
    fresh.load_state_dict(model.state_dict())
    for name in ("classes", "slots", "points", "point_ids", "reach"):
        assert torch.equal(getattr(fresh.instance_table, name), getattr(table, name))


def test_each_instance_keeps_its_points_and_a_reach_of_a_few_footprints():
    table = resolve_table(_two_objects_in_one_slot(), num_slots=4, num_classes=4, min_area_fraction=0.01)
    assert set(table.point_ids.tolist()) == {1, 2, 5}  # every instance seen, split or not
    lamp = table.points[table.point_ids == 5]
    assert len(lamp) == 100 and torch.all(lamp[:, 0] > 0.99)  # its own points, none of the cabinet's
    # all of a small instance's points are stored: its reach is REACH_FOOTPRINTS footprints of 0.01
    assert torch.allclose(table.reach[5], torch.tensor(0.04)) and torch.allclose(table.reach[2], torch.tensor(0.04))
    # the cabinet keeps 256 of its 300 points: a few of its points lie a little beyond the stored ones
    assert len(table.points[table.point_ids == 1]) == 256 and 0.04 <= float(table.reach[1]) < 0.08
    for unknown in (0, 3, 4):  # stuff, and slots no pixel took: nothing is known, nothing is cut
        assert torch.isinf(table.reach[unknown])


def test_the_floor_around_an_object_that_its_class_blurs_onto_stays_beyond_its_reach():
    """A chair's slot also labels 60 scattered points of the floor around it (the class field's blur, 3% of its
    points): its reach follows the gaps of the chair's own points, so floor points among the blur are not the chair."""
    g = torch.Generator().manual_seed(0)
    chair = 0.3 * torch.rand(2000, 3, generator=g)
    angle, radius = 2 * torch.pi * torch.rand(60, generator=g), 0.2 + 0.3 * torch.rand(60, generator=g)
    blur = torch.stack([0.15 + radius * torch.cos(angle), 0.15 + radius * torch.sin(angle), torch.zeros(60)], -1)
    samples = ViewSamples(
        torch.zeros(2060, dtype=torch.long), torch.full((2060,), CABINET), torch.cat([chair, blur]),
        torch.full((2060,), 0.005), 5000,
    )  # fmt: skip
    table = resolve_table(samples, num_slots=2, num_classes=4, min_area_fraction=0.01)
    assert float(table.reach[1]) < 0.1
    on_chair = torch.tensor([[0.15, 0.15, 0.3], [0.3, 0.0, 0.2]])
    floor = torch.tensor([[0.15, -0.25, 0.0], [-0.15, 0.25, 0.0]])  # 0.4 and 0.32 from its middle, among the blur
    assert not beyond_reach(torch.ones(2, dtype=torch.long), on_chair, table).any()
    assert beyond_reach(torch.ones(2, dtype=torch.long), floor, table).all()


def test_a_small_instance_seen_in_several_views_is_kept_and_one_seen_once_is_dropped():
    """The area rule is for speckles: slot 1's 3 points (3 of 803 pixels) are an object when 3 views show them."""
    samples = _two_objects_in_one_slot()
    samples.views = torch.tensor([0] * 400 + [5, 5, 5])
    assert resolve_table(samples, 4, 4, 0.01).classes[2] == DROP_INSTANCE
    samples.views = torch.tensor([0] * 400 + [2, 5, 7])
    assert resolve_table(samples, 4, 4, 0.01).classes[2] == LAMP
    samples.views = torch.tensor([0] * 400 + [2, 5, 5])  # two views: still a speckle
    assert resolve_table(samples, 4, 4, 0.01).classes[2] == DROP_INSTANCE


def test_an_instance_takes_the_class_of_most_of_its_surface_not_of_most_of_its_pixels():
    """Four far views label an object cabinet (20 pixels each, footprint 0.02); a close-up labels it lamp with 100
    pixels of footprint 0.005: more pixels, a sixteenth of the surface each."""
    points = _blob([0.0, 0, 0], 180, 0)
    classes = torch.tensor([CABINET] * 80 + [LAMP] * 100)
    footprints = torch.tensor([0.02] * 80 + [0.005] * 100)
    views = torch.tensor([0] * 20 + [1] * 20 + [2] * 20 + [3] * 20 + [4] * 100)
    samples = ViewSamples(torch.zeros(180, dtype=torch.long), classes, points, footprints, 0, views)
    assert resolve_table(samples, 2, 4, 0.01).classes[1] == CABINET
    samples.footprints = torch.full((180,), 0.02)  # every pixel the same size: the pixels' majority
    assert resolve_table(samples, 2, 4, 0.01).classes[1] == LAMP


def test_calibration_renders_views_and_stores_the_table():
    torch.manual_seed(0)
    model = make_model(num_instance_slots=4, min_instance_area=1.5)
    model.heads.semantic.register_forward_hook(lambda module, inputs, out: out + torch.tensor([0.0, 0.0, 10.0]))
    model.scene_box.aabb = torch.tensor([[-1e3] * 3, [1e3] * 3])  # an untrained field's surfaces lie anywhere
    cameras = Cameras(
        camera_to_worlds=torch.eye(4)[None, :3].clone() + torch.tensor([[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 2.0]]),
        fx=20.0, fy=20.0, cx=8.0, cy=6.0, width=16, height=12,
    )  # fmt: skip
    assert isinstance(model.instance_table, InstanceTable)
    model.calibrate_instances(cameras, masks=None, downscale=2)
    assert model.dropped_instances > 0  # above 1, every instance is too small


def test_a_checkpoint_with_only_instance_classes_still_loads():
    """Runs saved before tables had parts: their instances are their slots."""
    model = make_model(num_instance_slots=4)
    old = ("instance_slots", "instance_points", "instance_point_ids", "instance_reach", "instance_same_as")
    state = {k: v for k, v in model.state_dict().items() if k not in old}
    state["instance_classes"] = torch.tensor([KEEP_CLASS, CABINET, DROP_INSTANCE, KEEP_CLASS, KEEP_CLASS])
    fresh = make_model(num_instance_slots=4)
    fresh.load_state_dict(state)
    assert fresh.instance_table.slots.tolist() == [-1, 0, 1, 2, 3] and fresh.dropped_instances == 1
    assert torch.all(torch.isinf(fresh.instance_table.reach))  # nothing known of where instances are: no cut
    assert fresh.instance_table.same_as.tolist() == [0, 1, 2, 3, 4]  # nothing joined


def test_two_slots_the_masks_draw_as_one_object_are_one_instance():
    """Slots 0 and 1 hold the two halves of one chair (200 points each, side by side); in 4 views both halves lie in
    one input segment. Slot 2 is a second chair beside them that the masks keep apart."""
    points = torch.cat([_blob([0.0, 0, 0], 200, 0), _blob([0.06, 0, 0], 200, 1), _blob([0.2, 0, 0], 200, 2)])
    slots = torch.tensor([0] * 200 + [1] * 200 + [2] * 200)
    views = torch.arange(600) % 4
    segments = torch.where(slots < 2, 10, 20) + views * (1 << 16)
    samples = ViewSamples(slots, torch.full((600,), CABINET), points, torch.full((600,), 0.01), 400, views, segments)
    table = resolve_table(samples, num_slots=4, num_classes=4, min_area_fraction=0.01)
    assert table.same_as.tolist() == [0, 1, 1, 3, 4]
    assert table.classes[1] == CABINET and table.classes[2] == KEEP_CLASS  # id 2 is never shown: its pixels are id 1
    assert table.classes[3] == CABINET
    prediction = infer_panoptic(
        torch.tensor([[0, 0, 1.0, 0]] * 3), torch.eye(4)[:3], THINGS, table, points[[0, 200, 400]]
    )
    assert prediction.instance.tolist() == [1, 1, 3]
    samples.segments = slots * 10 + views * (1 << 16)  # the masks separate the halves
    assert resolve_table(samples, 4, 4, 0.01).same_as.tolist() == [0, 1, 2, 3, 4]


def _cabinet_and_far_small_object_in_one_slot(small_class):
    """Slot 0 labels a cabinet (300 points) and, 1 unit away, 10 points of a small object of ``small_class``: too few
    to be a part by area (with ``min_area_fraction`` 0.02 of 1810 pixels a part needs 37 points)."""
    points = torch.cat([_blob([0.0, 0, 0], 300, 0), _blob([1.0, 0, 0], 10, 1)])
    classes = torch.tensor([CABINET] * 300 + [small_class] * 10)
    return ViewSamples(torch.zeros(310, dtype=torch.long), classes, points, torch.full((310,), 0.01), 1500)


def test_a_small_far_group_of_another_class_never_takes_the_large_parts_class():
    table = resolve_table(_cabinet_and_far_small_object_in_one_slot(LAMP), 4, 4, min_area_fraction=0.02)
    assert table.slots.tolist() == [-1, 0, 1, 2, 3, 0]  # the lamp's 10 points: a part of their own
    assert table.classes[1] == CABINET
    assert table.classes[5] == LAMP  # 10 of 1810 pixels, below the area: kept, a part split off is an object
    assert len(table.points[table.point_ids == 5]) == 10


def test_a_small_far_group_of_the_same_class_belongs_to_no_instance():
    table = resolve_table(_cabinet_and_far_small_object_in_one_slot(CABINET), 4, 4, min_area_fraction=0.02)
    assert len(table.classes) == 5 and table.classes[1] == CABINET
    assert table.points[table.point_ids == 1][:, 0].max() < 0.1  # only the cabinet's points: none 1 unit away
    # Rendering: a pixel on the far group is beyond the cabinet's reach, so it never takes the cabinet's id.
    points = torch.tensor([[0.02, 0.02, 0.02], [1.02, 0.02, 0.02]])
    outside = beyond_reach(torch.tensor([1, 1]), points, table)
    assert outside.tolist() == [False, True]


def test_calibrating_from_a_dataset_passes_its_cameras_and_its_2d_masks():
    """What every checkpoint save and the benchmarks do: the masks are never left out (None would turn the masks'
    split of slots off)."""

    class Store:
        def frame_layers(self, index):
            return {"instance": torch.full((2, 3, 1), index)}

    class Dataset:
        cameras, store = "the cameras", Store()

    class Model:
        def calibrate_instances(self, cameras, *, masks):
            self.seen = cameras, masks
            return 7

    model = Model()
    assert calibrate_from_dataset(model, Dataset()) == 7
    cameras, masks = model.seen
    assert cameras == "the cameras" and torch.equal(masks(5), torch.full((2, 3), 5))


class _RoomFilmedFromInside:
    """Four views of a room whose walls (stuff) stand at x = +-1.5, beyond the cameras' scene box [-1, 1]: the right
    half of each view is the wall at x = 1.5, its last two columns a picture frame hanging on it (slot 0), the left
    half the wall at x = -1.5; one view has one pixel of slot 1 on a surface far out in empty space (x = 50)."""

    def __init__(self) -> None:
        self.thing_mask = torch.tensor([False, False, True, True])
        self.scene_box = SceneBox(aabb=torch.tensor([[-1.0, -1, -1], [1, 1, 1]]))
        self.rendered = 0

    def get_distributions_for_camera(self, camera: Cameras) -> dict:
        y, z = torch.meshgrid(torch.linspace(-0.5, 0.5, 10), torch.linspace(-0.5, 0.5, 10), indexing="ij")
        x = torch.where(torch.arange(10) >= 5, 1.5, -1.5).expand(10, 10).clone()
        classes = torch.zeros(10, 10, dtype=torch.long)
        slots = torch.zeros(10, 10, dtype=torch.long)
        classes[:, 8:], x[:, 8:] = CABINET, 1.45
        if self.rendered == 0:
            classes[0, 0], slots[0, 0], x[0, 0] = LAMP, 1, 50.0
        self.rendered += 1
        return {
            "semantics": torch.nn.functional.one_hot(classes, 4).float(),
            "instances": torch.nn.functional.one_hot(slots, 4).float(),
            "accumulation": torch.ones(10, 10, 1),
            "depth": x.abs()[..., None],
            "surface_points": torch.stack([x, y, z], dim=-1),
        }


def test_things_on_the_walls_beyond_the_cameras_box_count_and_a_surface_out_in_space_does_not():
    cameras = Cameras(camera_to_worlds=torch.eye(4)[None, :3].repeat(4, 1, 1), fx=10.0, fy=10.0, cx=5.0, cy=5.0,
                      width=10, height=10)  # fmt: skip
    samples = samples_over_views(_RoomFilmedFromInside(), cameras, max_views=4, downscale=1)
    assert len(samples.points) == 4 * 20 and torch.all(samples.slots == 0)  # every frame pixel, nothing else
    assert samples.stuff_pixels == 4 * 80 - 1 + 1  # the walls' pixels, and the one out in space (a wall's before)


def test_the_surface_box_spans_the_surfaces_seen_and_never_shrinks_the_scene_box():
    aabb = torch.tensor([[-1.0, -1, -1], [1, 1, 1]])
    right, left = torch.tensor([1.4, -0.1, -0.1]), torch.tensor([-1.6, -0.1, -0.1])
    walls = torch.cat([torch.rand(500, 3) * 0.2 + right, torch.rand(500, 3) * 0.2 + left])
    box = surface_box(torch.cat([walls, torch.tensor([[50.0, 0, 0]])]), aabb)
    assert torch.all(box[1, :1] > 1.55) and torch.all(box[1, :1] < 2.0) and torch.all(box[0, :1] < -1.55)
    assert torch.equal(box[1, 1:], aabb[1, 1:]) and torch.equal(box[0, 1:], aabb[0, 1:])  # y, z: inside the box
    assert torch.equal(surface_box(torch.zeros(0, 3), aabb), aabb)
