"""Numerical safety: degenerate labels never produce NaN or infinite losses, gradients or weights.

Degenerate cases real masks produce: frames with no thing pixels, all-void frames (or frames without a mask),
segments listed in segments_info but absent from the PNG, zero confidence, empty batches, rays through empty
space, and frames with more thing segments than the model has instance slots (the assignment then leaves the
extra segments unassigned and says so once).
"""

from pathlib import Path
from typing import Dict

import numpy as np
import pytest
import torch

from panoptic_nerfstudio.data.frame_decoding import IGNORE, decode_frame, unlabelled_frame
from panoptic_nerfstudio.data.panoptic_dataparser import load_class_table
from panoptic_nerfstudio.data.panoptic_format import PanopticFrame, read_panoptic, write_panoptic
from panoptic_nerfstudio.data.ray_store import build_ray_store
from panoptic_nerfstudio.data.segment_ray_sampler import SegmentRaySampler, SegmentRaySamplerConfig
from panoptic_nerfstudio.model_components.instance_assignment import instance_loss
from panoptic_nerfstudio.model_components.segmentation_renderers import render_distribution
from panoptic_nerfstudio.model_components.segmentation_losses import consistency_loss, semantic_loss
from tests.models.conftest import CLASSES, make_model, make_rays
from tests.training_steps import lite_pipeline, train_steps

N = 64
STUFF, THING = CLASSES.index_of(1), CLASSES.index_of(5)


def _batch(semantics: torch.Tensor, instance: torch.Tensor, segment: torch.Tensor, confidence=None) -> Dict:
    n = len(semantics)
    frame = torch.arange(n) * 2 // max(n, 1)  # two images
    return {
        "image": torch.rand(n, 3, generator=torch.Generator().manual_seed(0)),
        "semantics": semantics.long(),
        "instance": instance.long(),
        "confidence": torch.ones(n) if confidence is None else confidence,
        "segment": segment.long(),
        "indices": torch.stack([frame, torch.zeros_like(frame), torch.zeros_like(frame)], -1),
    }


def _cases() -> Dict[str, Dict]:
    rays = torch.arange(N)
    segment = rays // 8
    void = torch.full((N,), IGNORE)
    stuff = torch.where(segment % 2 == 0, STUFF, CLASSES.index_of(2))
    things = torch.full((N,), THING)
    return {
        "all_void": _batch(void, void, rays // (N // 2), confidence=torch.zeros(N)),
        "no_thing_pixels": _batch(stuff, void, segment),
        "only_things": _batch(things, segment % 4, segment),
        "zero_confidence": _batch(things, segment % 4, segment, confidence=torch.zeros(N)),
        "one_ray_segments": _batch(things, rays % 4, rays),
        "one_thing_ray_in_void": _batch(torch.where(rays == 5, THING, IGNORE), torch.where(rays == 5, 0, IGNORE), rays),
    }


def _check_losses_and_gradients(model, batch) -> Dict[str, torch.Tensor]:
    model.train_step = 10_000  # every loss on
    n = len(batch["semantics"])
    outputs = model(make_rays(n))
    metrics = model.get_metrics_dict(outputs, batch)
    losses = model.get_loss_dict(outputs, batch, metrics)
    assert {"semantic_loss", "instance_loss", "consistency_loss"} <= set(losses)
    for name, value in {**losses, **metrics}.items():
        assert torch.isfinite(torch.as_tensor(value)).all(), f"{name} = {value}"
    sum(losses.values()).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is None or torch.isfinite(parameter.grad).all(), name
    return losses


@pytest.mark.parametrize("case", sorted(_cases()))
def test_degenerate_batches_give_finite_losses_and_gradients(case):
    torch.manual_seed(0)
    losses = _check_losses_and_gradients(make_model(), _cases()[case])
    if case == "all_void":
        assert losses["semantic_loss"] == 0 and losses["instance_loss"] == 0 and losses["consistency_loss"] == 0
    if case == "no_thing_pixels":
        assert losses["instance_loss"] == 0 and losses["semantic_loss"] > 0


def test_losses_of_an_empty_batch_are_zero_not_nan():
    probs = torch.softmax(torch.randn(0, 4, requires_grad=True), dim=-1)
    empty = torch.zeros(0, dtype=torch.long)
    values = [
        semantic_loss(probs, empty, torch.zeros(0)),
        consistency_loss(probs, empty, torch.zeros(0, dtype=torch.bool)),
        instance_loss(probs, empty, empty, empty, torch.zeros(0))[0],
    ]
    assert all(torch.isfinite(v) and v == 0 for v in values)


def test_rays_through_empty_space_render_a_uniform_distribution():
    logits = torch.randn(3, 5, 4, requires_grad=True)
    weights = torch.zeros(3, 5, 1)  # nothing along the ray
    probs = render_distribution(logits, weights, bounded=True)
    assert torch.allclose(probs, torch.full_like(probs, 0.25))
    semantic_loss(probs, torch.tensor([0, 1, -1]), torch.ones(3)).backward()
    assert torch.isfinite(logits.grad).all()


def test_more_thing_segments_than_slots_leaves_the_extra_unassigned_and_warns_once(capsys):
    slots, segments = 2, 5
    model = make_model(num_instance_slots=slots)
    rays = torch.arange(N)
    segment = rays * segments // N  # five thing segments, all in image 0
    batch = _batch(torch.full((N,), THING), segment, segment)
    batch["indices"][:, 0] = 0

    outputs = model(make_rays(N))
    frame = batch["indices"][:, 0]
    loss, assignment = instance_loss(outputs["instances"], segment, frame, batch["instance"], batch["confidence"])
    assert assignment.unassigned_segments == segments - slots
    assigned = {int(s) for s in segment[assignment.target >= 0].unique()}
    assert len(assigned) == slots and len(set(assignment.target[assignment.target >= 0].tolist())) == slots
    assert (assignment.target[~torch.isin(segment, torch.tensor(sorted(assigned)))] == -1).all()
    assert torch.isfinite(loss)

    capsys.readouterr()
    for _ in range(3):
        model.zero_grad()
        _check_losses_and_gradients(model, batch)
    printed = capsys.readouterr().out
    assert printed.count("found no free instance slot") == 1, printed
    assert f"{segments - slots} thing segment(s)" in printed and f"K={slots}" in printed


# ----------------------------------------------------------------------------- through the real data path


def _void_everything(path: Path) -> None:
    frame = read_panoptic(path)
    write_panoptic(path, PanopticFrame(np.zeros_like(frame.ids), []))


def _stuff_only(path: Path) -> None:
    """Every thing pixel becomes the frame's first stuff segment; the thing entries stay listed (now empty)."""
    frame = read_panoptic(path)
    stuff = next(s for s in frame.segments if not s.isthing)
    ids = frame.ids.copy()
    for s in frame.segments:
        if s.isthing:
            ids[ids == s.id] = stuff.id
    write_panoptic(path, PanopticFrame(ids, frame.segments))


def test_empty_segments_are_never_stored_or_drawn(tiny_scene):
    """A segment listed in segments_info but covering no pixel gets no row: the sampler cannot draw it."""
    path = sorted((tiny_scene / "panoptic").glob("*.png"))[0]
    frame = read_panoptic(path)
    thing = next(s for s in frame.segments if s.isthing)
    ids = np.where(frame.ids == thing.id, 0, frame.ids)  # the thing keeps its entry but loses its pixels
    write_panoptic(path, PanopticFrame(ids, frame.segments))
    decoded = decode_frame(path, load_class_table(tiny_scene), (ids.shape[1], ids.shape[0]))
    assert thing.id not in decoded.segment_ids.tolist()

    images = [np.zeros((*ids.shape, 3), np.uint8), np.zeros((4, 4, 3), np.uint8)]
    store = build_ray_store(images, [decoded, unlabelled_frame((4, 4))])
    void_row = torch.zeros(len(store.segment_area), dtype=torch.bool)
    void_row[store.frame_segment_offset[:-1]] = True
    assert (store.segment_area[~void_row] > 0).all()
    sampler = SegmentRaySampler(SegmentRaySamplerConfig(images_per_batch=2, rays_per_segment=4), store)
    for _ in range(20):
        _, batch = sampler.sample(256)
        assert (store.segment_area[batch["segment"]] > 0).all()  # never a row without pixels
        assert set(batch["indices"][:, 0].tolist()) == {0, 1}


def test_training_steps_on_void_and_stuff_only_frames_stay_finite(tiny_scene):
    """All-void and stuff-only frames in every batch, through the real datamanager and model."""
    torch.manual_seed(0)
    paths = sorted((tiny_scene / "panoptic").glob("*.png"))
    _void_everything(paths[1])
    _stuff_only(paths[2])
    pipeline = lite_pipeline(tiny_scene, rays_per_batch=384, images_per_batch=6)  # all training frames, every step

    def finite(losses):
        assert all(torch.isfinite(v) for v in losses.values()), losses

    for _ in train_steps(pipeline, 4, check=finite):
        pass
    assert all(torch.isfinite(p).all() for p in pipeline.parameters())
