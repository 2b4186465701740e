"""``--pipeline.model.instance-head contrastive``: the option, the outputs and losses, the calibration that clusters
embeddings into 3D instances, and the run's centres and table in checkpoints."""

import pytest
import torch
import torch.nn.functional as F
import tyro

from nerfstudio.cameras.cameras import Cameras
from nerfstudio.data.scene_box import SceneBox
from nerfstudio.engine.callbacks import TrainingCallbackAttributes, TrainingCallbackLocation

from panoptic_nerfstudio.fields.instance_embedding import ContrastiveHeadConfig, ContrastiveHeads
from panoptic_nerfstudio.fields.panoptic_heads import PanopticHeads
from panoptic_nerfstudio.inference.embedding_clusters import calibrate_contrastive
from panoptic_nerfstudio.inference.panoptic_rule import infer_panoptic
from panoptic_nerfstudio.method_configs import panoptic_lifting_lite_config
from tests.models.conftest import CLASSES, make_model, make_rays
from tests.models.test_panoptic_model import _batch


def test_the_slot_head_stays_the_default_and_the_option_parses():
    config = panoptic_lifting_lite_config()
    assert config.pipeline.model.instance_head == "slots"
    parsed = tyro.cli(
        type(config), default=config,
        args=["--pipeline.model.instance-head", "contrastive", "--pipeline.model.contrastive.dim", "12"],
    )  # fmt: skip
    assert parsed.pipeline.model.instance_head == "contrastive" and parsed.pipeline.model.contrastive.dim == 12
    assert type(make_model().heads) is PanopticHeads


def test_unknown_head_is_refused():
    with pytest.raises(ValueError, match="instance head"):
        make_model(instance_head="boxes")


def test_outputs_losses_and_gradient_stopping():
    model = make_model(instance_head="contrastive", instance_loss_start_step=0, consistency_loss_start_step=0)
    assert isinstance(model.heads, ContrastiveHeads) and model.num_instance_columns == 1
    out = model(make_rays(64))
    assert out["embedding"].shape == (64, model.config.contrastive.dim)
    assert out["instances"].shape == (64, 1) and torch.allclose(out["instances"], torch.ones(64, 1))
    losses = model.get_loss_dict(out, _batch(64), model.get_metrics_dict(out, _batch(64)))
    assert {"contrastive_loss", "concentration_loss", "consistency_loss"} <= set(losses)
    assert "instance_loss" not in losses
    model.zero_grad()
    (losses["contrastive_loss"] + losses["concentration_loss"]).backward()
    assert model.heads.embedding_encoding.hash_table.grad.abs().sum() > 0
    field_grads = [p.grad for p in model.field.parameters() if p.grad is not None]
    assert all(float(g.abs().sum()) == 0.0 for g in field_grads)  # detached weights: geometry untouched
    assert set(model.heads.parameters()) <= set(model.get_param_groups()["panoptic_heads"])


def test_the_slow_target_copy_is_not_trained_and_follows_the_head_after_each_step():
    model = make_model(instance_head="contrastive", instance_loss_start_step=0,
                       contrastive=ContrastiveHeadConfig(slow_target_momentum=0.75))  # fmt: skip
    heads = model.heads
    slow = list(heads.slow_embedding.parameters())
    assert slow and not any(p.requires_grad for p in slow)
    assert not set(slow) & set(model.get_param_groups()["panoptic_heads"])
    out = model(make_rays(64))
    assert out["target_embedding"].shape == out["embedding"].shape and not out["target_embedding"].requires_grad
    model.eval()
    assert "target_embedding" not in model(make_rays(8))  # rendering never reads the slow copy
    with torch.no_grad():
        for p in heads.embedding.parameters():
            p.add_(1.0)
    before = [p.clone() for p in slow]
    after_step = [c for c in model.get_training_callbacks(TrainingCallbackAttributes(None, None, None, None))
                  if TrainingCallbackLocation.AFTER_TRAIN_ITERATION in c.where_to_run]  # fmt: skip
    for callback in after_step:
        callback.run_callback_at_location(0, TrainingCallbackLocation.AFTER_TRAIN_ITERATION)
    for old, new, trained in zip(before, slow, heads.embedding.parameters()):
        assert torch.allclose(new, 0.75 * old + 0.25 * trained)
    assert make_model(instance_head="contrastive").heads.slow_embedding is None  # off by default


class _ToyScene:
    """A model stand-in: three thing objects side by side (columns of the image), each its own embedding."""

    def __init__(self, dim=8):
        self.thing_mask = torch.tensor([False, False, True])
        self.scene_box = SceneBox(aabb=torch.tensor([[-2.0, -2.0, -2.0], [2.0, 2.0, 2.0]]))
        self.heads = ContrastiveHeads(
            make_model().config.heads, make_model().config.contrastive, self.scene_box.aabb, 3, None
        )
        self.means = F.normalize(torch.randn(3, dim, generator=torch.Generator().manual_seed(0)), dim=-1)

    def get_distributions_for_camera(self, camera):
        h, w = int(camera.height), int(camera.width)
        column = torch.arange(w)[None, :].expand(h, w)
        thing = (column < 3 * w // 4)
        obj = (column * 4 // w).clamp(max=2)
        semantics = torch.where(thing[..., None], torch.tensor([0.05, 0.05, 0.9]), torch.tensor([0.9, 0.05, 0.05]))
        embedding = self.means[obj] + 0.01 * torch.randn(h, w, len(self.means[0]))
        points = torch.stack([obj.float() * 0.5, torch.zeros(h, w), torch.zeros(h, w)], dim=-1)
        outputs = {"semantics": semantics, "embedding": embedding, "accumulation": torch.ones(h, w, 1),
                   "depth": torch.ones(h, w, 1), "surface_points": points}  # fmt: skip
        outputs["instances"] = self.heads.centre_distribution(embedding)
        return outputs


def _cameras(n=4, size=64):
    return Cameras(
        camera_to_worlds=torch.eye(4)[:3][None].repeat(n, 1, 1),
        fx=50.0, fy=50.0, cx=size / 2, cy=size / 2, width=size, height=size,
    )  # fmt: skip


def test_calibration_finds_the_objects_and_labels_them_alike_in_every_view():
    scene = _ToyScene()
    table = calibrate_contrastive(scene, _cameras(), 3, min_area_fraction=0.001, min_cluster_fraction=0.01)
    assert len(scene.heads.centres) == 3 and len(table.classes) == 4
    assert table.classes[1:].tolist() == [2, 2, 2]
    ids = []
    for view in range(2):
        out = scene.get_distributions_for_camera(_cameras(size=32)[view : view + 1])
        prediction = infer_panoptic(out["semantics"], out["instances"], scene.thing_mask, table, out["surface_points"])
        ids.append(prediction.instance)
    assert torch.equal(ids[0], ids[1])
    assert sorted(ids[0].unique().tolist()) == [0, 1, 2, 3]  # stuff, then one id per object


class _RoomBeyondTheCameras(_ToyScene):
    """The three objects stand at x = 0, 0.5 and 1, while the cameras' scene box ends at 0.4 (a room filmed from
    inside: what stands against its walls lies beyond the cameras)."""

    def __init__(self):
        super().__init__()
        self.scene_box = SceneBox(aabb=torch.tensor([[-0.4] * 3, [0.4] * 3]))


def test_objects_beyond_the_cameras_box_are_clustered_too():
    scene = _RoomBeyondTheCameras()
    table = calibrate_contrastive(scene, _cameras(), 3, min_area_fraction=0.001, min_cluster_fraction=0.01)
    assert len(scene.heads.centres) == 3 and table.classes[1:].tolist() == [2, 2, 2]


def test_a_calibrated_run_keeps_its_centres_and_table_through_a_checkpoint():
    model = make_model(instance_head="contrastive")
    model.heads.set_centres(F.normalize(torch.randn(45, model.config.contrastive.dim), dim=-1))
    scene = _ToyScene(model.config.contrastive.dim)
    table = calibrate_contrastive(scene, _cameras(), 3, 0.001, 0.01)
    model.heads.set_centres(scene.heads.centres)
    model.set_instance_table(table)
    loaded = make_model(instance_head="contrastive")
    loaded.load_state_dict(model.state_dict())
    assert torch.equal(loaded.heads.centres, scene.heads.centres) and loaded.num_instance_columns == 3
    assert torch.equal(loaded.instance_table.classes, table.classes)
    assert "contrastive" in loaded.instance_head_summary and "3 clusters" in loaded.instance_head_summary
    out = loaded(make_rays(16))
    assert out["instances"].shape == (16, 3)


class _TwoClassesOneEmbedding(_ToyScene):
    """Two thing objects of different classes (classes 1 and 2) that the field gives the same embedding."""

    def __init__(self):
        super().__init__()
        self.thing_mask = torch.tensor([False, True, True])
        self.means[1] = self.means[0]

    def get_distributions_for_camera(self, camera):
        outputs = super().get_distributions_for_camera(camera)
        column = torch.arange(int(camera.width))[None, :].expand(int(camera.height), -1)
        left = (column < int(camera.width) // 4)[..., None]
        middle = ((column >= int(camera.width) // 4) & (column < int(camera.width) // 2))[..., None]
        semantics = torch.where(left, torch.tensor([0.05, 0.9, 0.05]), torch.tensor([0.9, 0.05, 0.05]))
        outputs["semantics"] = torch.where(middle, torch.tensor([0.05, 0.05, 0.9]), semantics)
        return outputs


def test_clustering_per_class_keeps_two_classes_with_one_embedding_apart():
    joint, per_class = _TwoClassesOneEmbedding(), _TwoClassesOneEmbedding()
    calibrate_contrastive(joint, _cameras(), 3, 0.001, 0.01, split_slots=False)
    table = calibrate_contrastive(per_class, _cameras(), 3, 0.001, 0.01, split_slots=False, per_class=True)
    assert len(joint.heads.centres) == 1 and len(per_class.heads.centres) == 2
    assert sorted(table.classes[1:].tolist()) == [1, 2]  # one instance per class, each keeping its own


def test_centres_of_a_class_are_open_only_to_pixels_of_that_class():
    model = make_model(instance_head="contrastive")
    dim = model.config.contrastive.dim
    centres = F.normalize(torch.randn(3, dim, generator=torch.Generator().manual_seed(1)), dim=-1)
    model.heads.set_centres(centres, torch.tensor([2, 2, 1]))
    embedding = centres[[2, 0, 2]]  # nearest: the class-1 centre, a class-2 one, the class-1 one
    semantics = torch.tensor([[0.1, 0.1, 0.8], [0.1, 0.1, 0.8], [0.8, 0.1, 0.1]])  # classes 2, 2, 0 (no centres)
    chosen = model.heads.centre_distribution(embedding, semantics).argmax(dim=-1)
    assert chosen[0] in (0, 1) and chosen[1] == 0 and chosen[2] == 2  # own class only; a class without: any
    assert model.heads.centre_distribution(embedding).argmax(dim=-1).tolist() == [2, 0, 2]  # no classes given


def test_a_checkpoint_from_before_centre_classes_loads_with_centres_of_any_class():
    model = make_model(instance_head="contrastive")
    model.heads.set_centres(F.normalize(torch.randn(5, model.config.contrastive.dim), dim=-1))
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("centre_classes")}
    loaded = make_model(instance_head="contrastive")
    loaded.load_state_dict(state)
    assert torch.equal(loaded.heads.centres, model.heads.centres)
    assert loaded.heads.centre_classes.tolist() == [-1] * 5


class _TouchingTwins(_ToyScene):
    """Two touching thing objects (left and right half of the thing columns) that the field gives one embedding: one
    cluster, one spatial part; only the 2D masks, which draw them as two segments in every view, tell them apart."""

    def __init__(self):
        super().__init__()
        self.means[:] = self.means[0]

    def get_distributions_for_camera(self, camera):
        outputs = super().get_distributions_for_camera(camera)
        h, w = int(camera.height), int(camera.width)
        column = torch.arange(w)[None, :].expand(h, w).float()
        outputs["surface_points"] = torch.stack([column / w, torch.zeros(h, w), torch.zeros(h, w)], dim=-1)
        return outputs


def _twin_masks(index: int) -> torch.Tensor:
    """The views' 2D input at their full 64 x 64: thing segment 0 on the left twin, 1 on the right, none elsewhere."""
    column = torch.arange(64)[None, :].expand(64, 64)
    return torch.where(column < 24, 0, torch.where(column < 48, 1, -1))


def test_clusters_are_split_where_the_masks_separate_them_as_slots_are():
    unsplit = calibrate_contrastive(_TouchingTwins(), _cameras(), 3, 0.001, 0.01)
    scene = _TouchingTwins()
    table = calibrate_contrastive(scene, _cameras(), 3, 0.001, 0.01, masks=_twin_masks)
    assert len(scene.heads.centres) == 1 and unsplit.classes[1:].tolist() == [2]
    assert table.classes[1:].tolist() == [2, 2]  # one cluster, two 3D instances
    out = scene.get_distributions_for_camera(_cameras(size=64)[:1])
    ids = infer_panoptic(out["semantics"], out["instances"], scene.thing_mask, table, out["surface_points"]).instance
    left, right = ids[:, :20].unique().tolist(), ids[:, 28:44].unique().tolist()
    assert len(left) == 1 and len(right) == 1 and left != right and 0 not in left + right


@pytest.mark.parametrize("split_by_masks", [True, False])
def test_the_model_gives_the_contrastive_calibration_the_masks_unless_told_not_to(monkeypatch, split_by_masks):
    import panoptic_nerfstudio.models.panoptic_model as panoptic_model

    given = {}

    def record(*args, **kwargs):
        given.update(kwargs)
        return panoptic_model.InstanceTable.unknown(1)

    monkeypatch.setattr(panoptic_model, "calibrate_contrastive", record)
    model = make_model(instance_head="contrastive", split_by_masks=split_by_masks)
    model.calibrate_instances(_cameras(), masks=_twin_masks)
    assert given["masks"] is (_twin_masks if split_by_masks else None)
    with pytest.raises(TypeError, match="masks"):  # leaving the masks out must be said (None), never a default
        model.calibrate_instances(_cameras())


def test_the_contrastive_head_leaves_training_the_draws_of_the_slot_head():
    """Comparing the heads compares heads, not fields: the contrastive head has parameters the slot head does not, so
    built as it comes it would shift every random draw of training (rays, jitter) and another field would be trained."""
    fields, next_draws = [], []
    for head in ("slots", "contrastive"):
        torch.manual_seed(7)
        model = make_model(instance_head=head)
        fields.append(model.field.state_dict())
        next_draws.append(torch.rand(8))
    assert torch.equal(next_draws[0], next_draws[1])
    assert all(torch.equal(fields[0][key], fields[1][key]) for key in fields[0])
