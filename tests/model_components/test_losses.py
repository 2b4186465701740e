import math

import torch

from nerfstudio.utils.rich_utils import CONSOLE
from panoptic_nerfstudio.model_components.instance_assignment import assign_slots, instance_loss, warn_if_too_few_slots
from panoptic_nerfstudio.model_components.opacity_loss import opacity_loss
from panoptic_nerfstudio.model_components.segmentation_losses import consistency_loss, semantic_loss


def test_semantic_loss_ignores_void_and_weights_by_confidence():
    probs = torch.tensor([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]])
    labels = torch.tensor([0, -1, 1])
    conf = torch.tensor([1.0, 1.0, 0.5])
    expected = (-math.log(0.5) * 1.0 - math.log(0.8) * 0.5) / 2
    assert torch.isclose(semantic_loss(probs, labels, conf), torch.tensor(expected))
    assert semantic_loss(probs, torch.full((3,), -1), conf) == 0  # all void: zero, not NaN


def test_assignment_on_a_hand_made_case():
    # frame 0: segment 10 (rays 0-1) looks like slot 2, segment 11 (rays 2-3) like slot 0; ray 4 is stuff.
    probs = torch.tensor(
        [[0.1, 0.1, 0.8], [0.2, 0.1, 0.7], [0.6, 0.3, 0.1], [0.7, 0.2, 0.1], [1.0, 0.0, 0.0]]
    )
    segment = torch.tensor([10, 10, 11, 11, 12])
    frame = torch.zeros(5, dtype=torch.long)
    assignment = assign_slots(probs, segment, frame, torch.tensor([True, True, True, True, False]))
    assert assignment.target.tolist() == [2, 2, 0, 0, -1]
    assert assignment.unassigned_segments == 0


def test_assignment_is_per_image_and_leaves_extra_segments_unassigned():
    probs = torch.softmax(torch.randn(12, 2), dim=-1)
    segment = torch.arange(12) // 2  # 6 segments, 3 per image, only 2 slots
    frame = torch.arange(12) // 6
    assignment = assign_slots(probs, segment, frame, torch.ones(12, dtype=torch.bool))
    assert assignment.unassigned_segments == 2
    for image in (0, 1):  # within one image, slots are used at most once
        slots = assignment.target[frame == image].reshape(3, 2)[:, 0]
        used = slots[slots >= 0]
        assert len(used) == 2 and len(set(used.tolist())) == 2


def test_instance_loss_is_invariant_to_2d_id_numbering():
    torch.manual_seed(0)
    probs = torch.softmax(torch.randn(40, 5), dim=-1)
    frame = torch.arange(40) // 20
    segment = torch.arange(40) // 5  # 8 segments of 5 rays
    instance = torch.tensor([0, 1, 2, -1, 0, 1, 2, 3]).repeat_interleave(5)
    conf = torch.rand(40)
    loss, _ = instance_loss(probs, segment, frame, instance, conf)
    # renumber every frame's segments and thing indices differently
    relabel = torch.tensor([17, 3, 99, 42, 5, 61, 8, 23])
    instance_perm = torch.tensor([2, 0, 1, -1, 3, 2, 0, 1]).repeat_interleave(5)
    loss_perm, _ = instance_loss(probs, relabel[segment], frame, instance_perm, conf)
    assert torch.isclose(loss, loss_perm)
    assert loss > 0


def test_instance_loss_without_thing_rays_is_zero_not_nan():
    probs = torch.softmax(torch.randn(6, 3), dim=-1)
    loss, assignment = instance_loss(probs, torch.arange(6), torch.zeros(6, dtype=torch.long), torch.full((6,), -1), torch.ones(6))
    assert loss == 0 and not torch.isnan(loss) and assignment.unassigned_segments == 0


def test_consistency_loss_pulls_a_split_segment_together():
    torch.manual_seed(0)
    # one 2D segment of 16 rays whose predictions are split 10 / 6 between classes 0 and 2
    logits = torch.zeros(16, 3)
    logits[:10, 0] = 2.0
    logits[10:, 2] = 2.0
    logits.requires_grad_(True)
    segment = torch.zeros(16, dtype=torch.long)
    optimizer = torch.optim.SGD([logits], lr=1.0)
    for _ in range(50):
        optimizer.zero_grad()
        consistency_loss(torch.softmax(logits, -1), segment, torch.ones(16, dtype=torch.bool)).backward()
        optimizer.step()
    assert (logits.argmax(-1) == 0).all()  # the minority joined the segment's dominant class


def test_opacity_loss_is_zero_for_opaque_rays_and_grows_with_transparency():
    assert opacity_loss(torch.ones(4, 1)) == 0
    assert torch.isclose(opacity_loss(torch.tensor([[1.0], [0.5]])), torch.tensor(0.125))
    assert opacity_loss(torch.full((3, 1), 0.2)) > opacity_loss(torch.full((3, 1), 0.6))


def test_a_frame_with_more_things_than_slots_is_warned_of():
    for most, warned in ((40, True), (32, False), (None, False)):
        with CONSOLE.capture() as captured:
            warn_if_too_few_slots(most, 32)
        assert ("a training frame has 40 thing segments" in captured.get()) == warned
