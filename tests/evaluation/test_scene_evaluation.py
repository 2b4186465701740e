"""evaluate_scene with an oracle model that renders the ground truth (plus chosen defects)."""

from types import SimpleNamespace

import torch

from nerfstudio.data.scene_box import SceneBox

from panoptic_nerfstudio.data.panoptic_datamanager import PanopticDataManagerConfig
from panoptic_nerfstudio.data.panoptic_dataparser import PanopticDataParserConfig
from panoptic_nerfstudio.evaluation.scene_evaluation import evaluate_scene, labels_of
from panoptic_nerfstudio.inference.instance_table import instance_table_over_views
from panoptic_nerfstudio.inference.panoptic_rule import DROP_INSTANCE, InstanceTable, infer_panoptic

SLOTS = 32


class OracleModel:
    """Renders one-hot distributions of the ground truth, with scene-wide slots, frame after frame (cycling), and
    labels them with the real inference rule and an instance table made by the real helper over its own frames."""

    def __init__(self, dataset, stray_pixels: int = 0, calibrate: bool = True):
        self.dataset = dataset
        self.config = SimpleNamespace(num_instance_slots=SLOTS, min_instance_area=0.001)
        self.thing_mask = torch.from_numpy(dataset.classes.thing_mask)
        self.device = "cpu"
        self.scene_box = SceneBox(aabb=torch.tensor([[-1.0, -1, -1], [1, 1, 1]]))
        self.stray_pixels = stray_pixels
        self.frame = 0
        self.slot_of = {}
        self.table = InstanceTable.unknown(SLOTS)
        if calibrate:
            self.table = instance_table_over_views(self, dataset.cameras, SLOTS, len(dataset.classes), 0.001, downscale=1)
            self.frame = 0

    @property
    def dropped_instances(self) -> int:
        return int((self.table.classes == DROP_INSTANCE).sum())

    def infer(self, outputs):
        return infer_panoptic(
            outputs["semantics"], outputs["instances"], self.thing_mask, self.table, outputs["surface_points"]
        )

    def get_distributions_for_camera(self, camera):
        classes = self.dataset.classes
        image = self.dataset.get_numpy_image(self.frame)
        height, width = image.shape[:2]
        gt = labels_of(self.dataset.panoptic.layers[self.frame].gt_panoptic, classes, (width, height))
        dense = {c.id: i for i, c in enumerate(classes.categories)}
        semantic = torch.tensor([[dense.get(int(c), 0) for c in row] for row in gt.category])
        slot = torch.zeros_like(semantic)
        for iid in gt.instance.unique().tolist():
            if iid:
                slot[gt.instance == iid] = self.slot_of.setdefault(iid, len(self.slot_of))
        if self.stray_pixels and self.frame == 0:  # a spurious slot winning a few thing pixels of frame 0
            thing_pixels = torch.nonzero(self.thing_mask[semantic])[: self.stray_pixels]
            slot[thing_pixels[:, 0], thing_pixels[:, 1]] = SLOTS - 1
        self.frame = (self.frame + 1) % len(self.dataset)
        return {
            "semantics": torch.nn.functional.one_hot(semantic, len(classes)).float(),
            "instances": torch.nn.functional.one_hot(slot, SLOTS).float(),
            "rgb": torch.from_numpy(image[..., :3]).float() / 255.0,
            "depth": torch.ones(height, width, 1),
            "accumulation": torch.ones(height, width, 1),
            "surface_points": torch.zeros(height, width, 3),  # one place: no slot splits into parts
        }


def _eval_dataset(scene):
    config = PanopticDataManagerConfig(dataparser=PanopticDataParserConfig(data=scene))
    return config.setup(device="cpu", test_mode="val").eval_dataset


def test_oracle_scores_100_and_the_input_masks_do_not(tiny_scene_master):
    dataset = _eval_dataset(tiny_scene_master)
    seen = []
    result = evaluate_scene(OracleModel(dataset), dataset, on_frame=lambda i, f: seen.append(i))
    assert seen == list(range(len(dataset)))
    assert result.lifted_pq.all.pq > 99.9 and result.lifted_miou > 99.9  # void GT pixels excluded by PQ and mIoU
    assert result.input_pq.things.pq < result.lifted_pq.things.pq  # per-frame 2D ids
    assert result.input_miou < 100.0
    assert result.dropped_instances == 0
    assert result.instance_errors.objects > 0 and result.instance_errors.merged == result.instance_errors.split == 0
    assert result.metrics()["merges"] == result.metrics()["merges_kept_apart_by_masks"] == 0
    assert result.unmatched.missed == result.unmatched.false_instances == []
    assert result.metrics()["missed_lost_to_stuff"] == result.metrics()["false_instances_on_stuff"] == 0
    # the authors' protocol too (evaluation/test_panoptic_quality.py tests the rule): the oracle stays perfect
    assert result.metrics()["lifted_pq_authors"] > 99.9
    assert result.metrics()["input_pq_authors"] == result.input_pq_authors.all.pq
    names = {c.name for c in dataset.classes.categories}
    assert all(set(dropped) <= names for dropped in result.authors_dropped_categories(dataset.classes).values())
    per_category = result.per_category(dataset.classes)
    assert set(per_category["lifted"]) <= names
    assert all(abs(s["pq"] - 100) < 1e-6 for s in per_category["lifted"].values())


def test_a_stray_slot_on_a_few_pixels_is_dropped_by_the_run_table(tiny_scene_master):
    dataset = _eval_dataset(tiny_scene_master)
    result = evaluate_scene(OracleModel(dataset, stray_pixels=3), dataset)
    assert result.dropped_instances == 1
    assert all(int((p.instance == SLOTS).sum()) == 0 for p in result.predictions)
    uncalibrated = evaluate_scene(OracleModel(dataset, stray_pixels=3, calibrate=False), dataset)
    assert uncalibrated.dropped_instances == 0  # evaluation applies the run's table; it makes none of its own
    assert int((uncalibrated.predictions[0].instance == SLOTS).sum()) == 3


def test_void_input_pixels_count_as_misses_in_input_miou(tiny_scene_master, tiny_scene):
    """Input masks that leave a pixel void must not score better than ones that label it."""
    dataset = _eval_dataset(tiny_scene_master)
    baseline = evaluate_scene(OracleModel(dataset), dataset).input_miou
    from panoptic_nerfstudio.data.panoptic_format import PanopticFrame, read_panoptic, write_panoptic

    for layers in _eval_dataset(tiny_scene).panoptic.layers:  # void a labelled half of every input mask
        frame = read_panoptic(layers.panoptic)
        ids = frame.ids.copy()
        ids[: ids.shape[0] // 2] = 0
        write_panoptic(layers.panoptic, PanopticFrame(ids, [s for s in frame.segments if (ids == s.id).any()]))
    voided = _eval_dataset(tiny_scene)
    assert evaluate_scene(OracleModel(voided), voided).input_miou < baseline - 5
