"""The contrastive head's losses on small hand-computed cases."""

import math

import pytest
import torch

from panoptic_nerfstudio.fields.instance_embedding import ContrastiveHeadConfig
from panoptic_nerfstudio.model_components.contrastive_losses import contrastive_loss_dict, contrastive_losses


def _case(embedding, segment, frame, thing=None, confidence=None, temperature=1.0):
    embedding = torch.tensor(embedding, dtype=torch.float32, requires_grad=True)
    n = len(segment)
    thing = torch.ones(n, dtype=torch.bool) if thing is None else torch.tensor(thing)
    confidence = torch.ones(n) if confidence is None else torch.tensor(confidence, dtype=torch.float32)
    found = contrastive_losses(embedding, torch.tensor(segment), torch.tensor(frame), thing, confidence, temperature)
    return embedding, found


def _value(loss: torch.Tensor) -> float:
    return float(loss.detach())


def test_two_separated_segments_of_one_frame():
    # centroids (1, 0) and (0, 1): own distance 0, other squared distance 2 -> log(1 + e^-2) per ray
    _, found = _case([[1, 0], [1, 0], [0, 1], [0, 1]], [0, 0, 1, 1], [0, 0, 0, 0])
    assert _value(found.contrastive) == pytest.approx(math.log(1 + math.exp(-2)), rel=1e-5)
    assert _value(found.concentration) == pytest.approx(0.0, abs=1e-7)


def test_temperature_sharpens():
    _, found = _case([[1, 0], [1, 0], [0, 1], [0, 1]], [0, 0, 1, 1], [0, 0, 0, 0], temperature=0.5)
    assert _value(found.contrastive) == pytest.approx(math.log(1 + math.exp(-4)), rel=1e-5)


def test_concentration_is_the_squared_distance_to_the_own_centroid():
    # segment 0: rays at (0, 0) and (2, 0), centroid (1, 0): squared distance 1 each; segment 1 alone in frame 1
    _, found = _case([[0, 0], [2, 0], [5, 5]], [0, 0, 1], [0, 0, 1])
    assert _value(found.concentration) == pytest.approx(2 / 3, rel=1e-6)
    # each frame has a single segment: nothing to push apart
    assert _value(found.contrastive) == pytest.approx(0.0, abs=1e-7)


def test_segments_of_different_frames_are_never_compared():
    # the same embedding in two frames: no penalty; in one frame: the maximal confusion log(2)
    _, apart = _case([[1, 0], [1, 0]], [0, 1], [0, 1])
    _, together = _case([[1, 0], [1, 0]], [0, 1], [0, 0])
    assert _value(apart.contrastive) == pytest.approx(0.0, abs=1e-7)
    assert _value(together.contrastive) == pytest.approx(math.log(2), rel=1e-6)


def test_stuff_rays_are_left_out_and_confidence_weights():
    emb = [[1, 0], [0, 1], [0, 0]]
    _, found = _case(emb, [0, 1, 2], [0, 0, 0], thing=[True, True, False], confidence=[1.0, 0.5, 1.0])
    per_ray = math.log(1 + math.exp(-2))
    assert _value(found.contrastive) == pytest.approx((per_ray * 1.0 + per_ray * 0.5) / 2, rel=1e-5)
    _, none = _case(emb, [0, 1, 2], [0, 0, 0], thing=[False, False, False])
    assert _value(none.contrastive) == 0.0 and _value(none.concentration) == 0.0


def test_gradient_pushes_segments_of_a_frame_apart_and_pulls_rays_together():
    embedding, found = _case([[0.1, 0], [0.3, 0], [-0.1, 0], [-0.3, 0]], [0, 0, 1, 1], [0, 0, 0, 0])
    (found.contrastive + found.concentration).backward()
    step = -embedding.grad[:, 0]
    assert step[2] < 0 and step[0] > 0  # the inner rays of both segments move away from the other segment
    assert float(embedding.grad[:, 0].sum()) == pytest.approx(0.0, abs=1e-6)  # (a symmetric case)


def test_the_loss_dict_weights_and_reads_the_batch():
    config = ContrastiveHeadConfig(contrastive_loss_mult=2.0, concentration_loss_mult=3.0, temperature=1.0)
    batch = {
        "segment": torch.tensor([0, 0, 1, 1]),
        "instance": torch.tensor([0, 0, 1, 1]),
        "indices": torch.tensor([[0, 0, 0], [0, 1, 1], [0, 2, 2], [0, 3, 3]]),
    }
    embedding = torch.tensor([[1.0, 0], [1.0, 0], [0, 1.0], [0, 1.0]])
    losses = contrastive_loss_dict(embedding, batch, torch.ones(4), config)
    assert _value(losses["contrastive_loss"]) == pytest.approx(2 * math.log(1 + math.exp(-2)), rel=1e-5)
    assert _value(losses["concentration_loss"]) == pytest.approx(0.0, abs=1e-7)


def test_a_target_gives_the_centroids_and_takes_no_gradient():
    # the rays sit at (1, 0) and (0, 1); the target puts segment 0's centroid at (0, 0): concentration 1/2 (two of
    # four rays at squared distance 1), and the gradient pulls segment 0's rays towards the target's centroid
    embedding = torch.tensor([[1.0, 0], [1.0, 0], [0, 1.0], [0, 1.0]], requires_grad=True)
    target = torch.tensor([[0.0, 0], [0.0, 0], [0, 1.0], [0, 1.0]])
    args = (torch.tensor([0, 0, 1, 1]), torch.tensor([0, 0, 0, 0]), torch.ones(4, dtype=torch.bool), torch.ones(4), 1.0)
    found = contrastive_losses(embedding, *args, target=target)
    assert _value(found.concentration) == pytest.approx(0.5, rel=1e-6)
    found.concentration.backward()
    assert embedding.grad[0, 0] > 0 and embedding.grad[2].abs().sum() == 0
    assert _value(contrastive_losses(embedding, *args).concentration) == pytest.approx(0.0, abs=1e-7)
