"""Scene edits inside the model: every sample labelled, density zeroed before the weights, labels on background."""

import torch

from nerfstudio.models.nerfacto import NerfactoModel

from panoptic_nerfstudio.inference.panoptic_rule import KEEP_CLASS, POINTS_PER_PART, InstanceTable
from panoptic_nerfstudio.inference.scene_edits import SceneEdits
from panoptic_nerfstudio.models.nerfacto_pass import nerfacto_pass
from panoptic_nerfstudio.models.scene_editing import relabel_edited, sample_edit, scene_edits, set_scene_edits
from tests.inference.test_edge_aware_refinement import two_surfaces
from tests.models.conftest import make_model, make_rays

WALL, CHAIR = 0, 2  # dense indices of tests/models/conftest.py's CLASSES


def spatial_model(**overrides):
    """A model whose heads say: chair in slot 0 (3D instance 1) where x > 0, wall elsewhere."""
    torch.manual_seed(0)
    model = make_model(num_instance_slots=4, **overrides)

    def heads(positions, backbone=None):
        right = positions[..., :1] > 0
        semantic = torch.where(right, torch.tensor([0.0, 0.0, 9.0]), torch.tensor([9.0, 0.0, 0.0]))
        return semantic, torch.tensor([9.0, 0.0, 0.0, 0.0]).expand(*positions.shape[:-1], 4)

    model.heads.forward = heads
    model.eval()
    return model


def _rays(model, n=48, seed=3):
    return model.collider(make_rays(n, seed=seed))


@torch.no_grad()
def test_the_samples_of_a_removed_instance_weigh_nothing_all_of_them_not_only_the_heaviest():
    model = spatial_model()
    rays = _rays(model)
    plain = nerfacto_pass(model, rays)
    edited = nerfacto_pass(model, rays, edit_samples=sample_edit(model, SceneEdits(remove_instances=(1,))))
    positions = edited.ray_samples.frustums.get_positions()
    assert torch.equal(positions, plain.ray_samples.frustums.get_positions())  # same samples, only the density differs
    chair = positions[..., 0] > 0
    assert chair.any() and (~chair).any()
    assert float(plain.weights[..., 0][chair].sum()) > 0
    assert float(edited.weights[..., 0][chair].abs().max()) == 0.0  # every chair sample, however light or heavy
    # a ray's samples before its first chair sample are untouched
    first = torch.where(chair.any(dim=-1), chair.float().argmax(dim=-1), torch.full(chair.shape[:1], chair.shape[1]))
    before = torch.arange(chair.shape[1])[None] < first[:, None]
    assert torch.equal(edited.weights[..., 0][before], plain.weights[..., 0][before])


@torch.no_grad()
def test_isolating_keeps_only_the_isolated_samples():
    model = spatial_model()
    rays = _rays(model)
    edited = nerfacto_pass(model, rays, edit_samples=sample_edit(model, SceneEdits(isolate_classes=(WALL,))))
    chair = edited.ray_samples.frustums.get_positions()[..., 0] > 0
    assert float(edited.weights[..., 0][chair].abs().max()) == 0.0
    assert float(edited.weights[..., 0][~chair].sum()) > 0


def test_without_edits_or_while_training_the_pass_is_nerfactos():
    model = spatial_model()
    set_scene_edits(model, SceneEdits(remove_instances=(1,)))
    model.train()
    rays = _rays(model)
    torch.manual_seed(7)
    ours = model.get_outputs(rays)
    torch.manual_seed(7)
    stock = NerfactoModel.get_outputs(model, rays)
    assert torch.equal(ours["rgb"], stock["rgb"]) and torch.equal(ours["accumulation"], stock["accumulation"])
    model.eval()
    edited, stock = model.get_outputs(rays), NerfactoModel.get_outputs(model, rays)
    assert not torch.equal(edited["accumulation"], stock["accumulation"])
    set_scene_edits(model, None)
    assert scene_edits(model) == SceneEdits()
    assert torch.equal(model.get_outputs(rays)["rgb"], NerfactoModel.get_outputs(model, rays)["rgb"])


def test_isolating_nothing_visible_leaves_background_and_no_labels():
    model = spatial_model()
    bundle = make_rays(32, seed=5).reshape((32, 1))
    set_scene_edits(model, SceneEdits(isolate_instances=(3,), background=(1.0, 1.0, 1.0)))  # slot 2: nowhere
    outputs = model.get_outputs_for_camera_ray_bundle(bundle)
    assert float(outputs["accumulation"].max()) == 0.0
    assert torch.allclose(outputs["rgb"], torch.ones_like(outputs["rgb"]))
    assert torch.allclose(outputs["panoptic"], torch.ones_like(outputs["panoptic"]))
    assert (outputs["instance_id"] == 0).all() and (outputs["class_id"] == -1).all()
    assert (outputs["confidence"] == 0).all()


def test_isolating_an_instance_keeps_its_labels_where_it_is_seen():
    model = spatial_model()
    bundle = make_rays(64, seed=5).reshape((64, 1))
    unedited = model.get_outputs_for_camera_ray_bundle(bundle)
    set_scene_edits(model, SceneEdits(isolate_instances=(1,)))
    outputs = model.get_outputs_for_camera_ray_bundle(bundle)
    covered = outputs["accumulation"][..., 0] >= 0.5
    assert (outputs["instance_id"][covered] == 1).all()
    assert (outputs["instance_id"][~covered] == 0).all()
    assert (outputs["accumulation"] <= unedited["accumulation"] + 1e-6).all()


def test_recolor_tints_the_instance_and_nothing_else():
    model = spatial_model()
    bundle = make_rays(64, seed=5).reshape((64, 1))
    set_scene_edits(model, SceneEdits(isolate_classes=(WALL,)))
    wall_only = model.get_outputs_for_camera_ray_bundle(bundle)["rgb"]
    set_scene_edits(model, SceneEdits(isolate_classes=(WALL,), recolor=((1, (1.0, 0.0, 0.0)),)))
    assert torch.equal(model.get_outputs_for_camera_ray_bundle(bundle)["rgb"], wall_only)  # the chair is not shown
    set_scene_edits(model, SceneEdits(isolate_instances=(1,), recolor=((1, (1.0, 0.0, 0.0)),)))
    tinted = model.get_outputs_for_camera_ray_bundle(bundle)["rgb"]
    assert float(tinted[..., 1:].abs().max()) < 1e-6  # red hue only, on a black background
    assert float(tinted[..., 0].max()) > 0


def test_a_pixel_is_labelled_among_what_the_edits_leave():
    """A slot distribution is a mixture: the samples left on a ray may still lean to a removed slot."""
    model = make_model(num_instance_slots=4).eval()
    outputs = {
        "semantics": torch.tensor([[[0.1, 0.1, 0.8]], [[0.5, 0.3, 0.2]]]),
        "instances": torch.tensor([[[0.5, 0.3, 0.1, 0.1]], [[0.5, 0.3, 0.1, 0.1]]]),
        "surface_points": torch.zeros(2, 1, 3),
    }
    assert model.infer(outputs).instance.reshape(-1).tolist() == [1, 0]
    relabel_edited(model, SceneEdits(remove_instances=(1,)), outputs)
    assert outputs["instance_id"].reshape(-1).tolist() == [2.0, 0.0]  # the next slot, as if slot 0 were never there
    relabel_edited(model, SceneEdits(remove_classes=(WALL,)), outputs)
    assert outputs["class_id"].reshape(-1).tolist() == [5.0, 2.0]  # chair, then floor instead of the wall


def test_a_thing_pixel_beyond_its_instance_reach_is_stuff_in_every_labelling_unless_switched_off():
    """Rule 6 in ``model.infer`` and in the labels of an edited render, and ``stuff_beyond_reach`` turning it off."""
    model = make_model(num_instance_slots=4).eval()
    model.set_instance_table(
        InstanceTable(
            classes=torch.tensor([KEEP_CLASS, 2] + [KEEP_CLASS] * 3),  # instance 1: a chair
            slots=torch.arange(-1, 4),
            points=torch.rand(POINTS_PER_PART, 3, generator=torch.Generator().manual_seed(0)) * 0.1,
            point_ids=torch.ones(POINTS_PER_PART, dtype=torch.long),
            reach=torch.tensor([float("inf"), 0.5] + [float("inf")] * 3),
            same_as=torch.arange(5),
        )
    )
    outputs = {  # two chair pixels of slot 0: one on the chair's surface, one 2 units off it (floor beside it)
        "semantics": torch.tensor([[[0.2, 0.1, 0.7]], [[0.1, 0.2, 0.7]]]),
        "instances": torch.tensor([[[0.9, 0.05, 0.03, 0.02]]] * 2),
        "surface_points": torch.tensor([[[0.05, 0.05, 0.05]], [[0.05, 2.0, 0.05]]]),
    }
    labels = model.infer(outputs)
    assert labels.instance.reshape(-1).tolist() == [1, 0] and labels.semantics.reshape(-1).tolist() == [2, 1]
    relabel_edited(model, SceneEdits(remove_instances=(2,)), outputs)
    assert outputs["instance_id"].reshape(-1).tolist() == [1.0, 0.0]
    model.config.stuff_beyond_reach = False
    assert model.infer(outputs).instance.reshape(-1).tolist() == [1, 1]
    relabel_edited(model, SceneEdits(remove_instances=(2,)), outputs)
    assert outputs["instance_id"].reshape(-1).tolist() == [1.0, 1.0]


def test_an_edited_render_is_labelled_as_every_render_is_refined_classes_included():
    """``relabel_edited`` goes through ``model.infer``: the labels an edit leaves alone are those of the unedited
    render (here the edge-aware refinement moves two bleeding columns back, in both)."""
    outputs, truth = two_surfaces()  # classes 0 and 1: the toy table's wall and floor
    outputs["semantics"] = torch.cat([outputs["semantics"], torch.zeros(*truth.shape, 1)], dim=-1)
    outputs["instances"] = torch.full((*truth.shape, 4), 0.25)
    outputs["surface_points"] = torch.zeros(*truth.shape, 3)
    model = make_model(num_instance_slots=4).eval()
    assert not torch.equal(outputs["semantics"].argmax(-1), truth)  # as rendered
    relabel_edited(model, SceneEdits(remove_instances=(1,)), outputs)
    assert torch.equal(outputs["class_id"][..., 0].long(), model.category_ids[truth])
