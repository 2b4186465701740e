"""``models/panoptic_losses.py``: which losses a batch adds to nerfacto's, from which step, weighted how."""

import torch

from panoptic_nerfstudio.model_components.segmentation_losses import consistency_loss, semantic_loss
from panoptic_nerfstudio.models.panoptic_losses import panoptic_losses
from tests.models.conftest import make_model, make_rays
from tests.models.test_panoptic_model import _batch


def _losses_at(model, out, batch, step):
    model.train_step = step
    return panoptic_losses(model, out, batch)


def test_each_loss_joins_at_its_start_step_and_evaluation_keeps_only_the_semantic_loss():
    model = make_model(semantic_loss_start_step=10, instance_loss_start_step=100, consistency_loss_start_step=200)
    out, batch = model(make_rays(64)), _batch(64)
    assert set(_losses_at(model, out, batch, 9)) == set()
    assert set(_losses_at(model, out, batch, 10)) == {"semantic_loss"}
    assert set(_losses_at(model, out, batch, 100)) == {"semantic_loss", "instance_loss"}
    assert set(_losses_at(model, out, batch, 200)) == {"semantic_loss", "instance_loss", "consistency_loss"}
    model.eval()
    assert set(_losses_at(model, out, batch, 200)) == {"semantic_loss"}


def test_the_weights_scale_each_loss_and_the_slot_heads_consistency_includes_its_slots():
    model = make_model(semantic_loss_mult=0.5, consistency_loss_mult=0.25)
    out, batch = model(make_rays(64)), _batch(64)
    losses = _losses_at(model, out, batch, 10_000)
    semantic = semantic_loss(out["semantics"], batch["semantics"], batch["confidence"])
    assert torch.allclose(losses["semantic_loss"], 0.5 * semantic)
    segment = batch["segment"]
    slots = consistency_loss(out["instances"], segment, batch["instance"] >= 0)
    classes = consistency_loss(out["semantics"], segment, batch["semantics"] >= 0)
    assert slots > 0 and torch.allclose(losses["consistency_loss"], 0.25 * (classes + slots))


def test_the_contrastive_head_trains_its_own_losses_and_class_consistency_only():
    model = make_model(instance_head="contrastive", instance_loss_start_step=0, consistency_loss_start_step=0)
    out, batch = model(make_rays(64)), _batch(64)
    losses = _losses_at(model, out, batch, 0)
    assert set(losses) == {"semantic_loss", "contrastive_loss", "concentration_loss", "consistency_loss"}
    classes = consistency_loss(out["semantics"], batch["segment"], batch["semantics"] >= 0)
    assert torch.allclose(losses["consistency_loss"], model.config.consistency_loss_mult * classes)


def test_confidence_weights_the_losses_unless_it_is_switched_off():
    batch = _batch(64)
    unsure = dict(batch, confidence=torch.zeros_like(batch["confidence"]))
    weighted = make_model()
    out = weighted(make_rays(64))
    assert _losses_at(weighted, out, unsure, 10_000)["semantic_loss"].item() == 0.0
    assert _losses_at(weighted, out, batch, 10_000)["semantic_loss"].item() > 0.0
    unweighted = make_model(use_confidence=False)
    out = unweighted(make_rays(64))
    for name in ("semantic_loss", "instance_loss"):
        assert torch.equal(_losses_at(unweighted, out, unsure, 10_000)[name],
                           _losses_at(unweighted, out, batch, 10_000)[name])  # fmt: skip


def test_segments_beyond_the_free_slots_warn_once_per_run(capsys):
    model = make_model(num_instance_slots=2)
    n = 32
    segment = torch.arange(n) // 8  # four chair segments in one frame, two slots
    batch = dict(_batch(n), semantics=torch.full((n,), 2), instance=segment, segment=segment,
                 indices=torch.zeros(n, 3, dtype=torch.long))  # fmt: skip
    out = model(make_rays(n))
    assert not model.warned_unassigned
    _losses_at(model, out, batch, 10_000)
    assert model.warned_unassigned
    assert "2 thing segment(s) in a batch found no free instance slot" in capsys.readouterr().out
    _losses_at(model, out, batch, 10_000)
    assert "no free instance slot" not in capsys.readouterr().out
