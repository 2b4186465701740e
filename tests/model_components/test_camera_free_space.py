"""The free-space loss around the training cameras: ball radii from each camera's near depth, draws, the loss."""

import math

import pytest
import torch

from nerfstudio.cameras.cameras import Cameras
from panoptic_nerfstudio.model_components.camera_free_space import CameraFreeSpace, CameraFreeSpaceConfig, free_space_of


def _cameras(*centres) -> Cameras:
    poses = torch.eye(4)[None, :3].repeat(len(centres), 1, 1)
    poses[:, :, 3] = torch.tensor(centres)
    return Cameras(camera_to_worlds=poses, fx=1.0, fy=1.0, cx=1.0, cy=1.0)


def _free_space(**overrides) -> CameraFreeSpace:
    space = CameraFreeSpace(CameraFreeSpaceConfig(loss_mult=1.0, **overrides), num_cameras=2, seed=0)
    space.place(_cameras([0.0, 0.0, 0.0], [5.0, 0.0, 0.0]))
    return space


def test_near_depth_is_a_low_quantile_then_a_running_mean():
    space = _free_space(depth_quantile=0.0)
    space.observe(torch.tensor([0, 0, 1]), torch.tensor([[2.0], [1.0], [3.0]]))
    assert space.near.tolist() == [1.0, 3.0]
    space.observe(torch.tensor([0]), torch.tensor([[2.0]]))
    assert space.near[0].item() == pytest.approx(0.9 * 1.0 + 0.1 * 2.0)


def test_no_loss_before_a_camera_is_seen_or_the_cameras_are_placed():
    assert _free_space().loss(lambda points: torch.zeros(len(points), 1)) is None
    unplaced = CameraFreeSpace(CameraFreeSpaceConfig(), num_cameras=1, seed=0)
    unplaced.observe(torch.tensor([0]), torch.tensor([[1.0]]))
    assert unplaced.loss(lambda points: torch.zeros(len(points), 1)) is None


def test_placing_other_cameras_than_it_was_made_for_is_refused():
    with pytest.raises(ValueError, match="3 training cameras"):
        CameraFreeSpace(CameraFreeSpaceConfig(), num_cameras=2, seed=0).place(_cameras(*[[0.0, 0.0, 0.0]] * 3))


def test_points_lie_in_the_seen_cameras_balls_capped_by_max_radius():
    space = _free_space(depth_fraction=0.5, max_radius=0.25, points_per_step=4000)
    space.observe(torch.tensor([0, 1]), torch.tensor([[0.2], [10.0]]))  # radii 0.1 and 0.25 (capped)
    drawn = []

    def density(points):
        drawn.append(points)
        return torch.zeros(len(points), 1)

    space.loss(density)
    points = drawn[0]
    near_first = points[:, 0] < 2.5
    reach_first = points[near_first].norm(dim=-1)
    reach_second = (points[~near_first] - torch.tensor([5.0, 0.0, 0.0])).norm(dim=-1)
    assert reach_first.max() <= 0.1 + 1e-6 and reach_second.max() <= 0.25 + 1e-6
    assert reach_second.max() > 0.2  # the capped ball is filled, not only its centre
    assert 0.4 < near_first.float().mean() < 0.6  # cameras drawn alike


def test_loss_is_mean_opacity_and_trains_density():
    space = _free_space(step_size=0.1)
    space.observe(torch.tensor([0]), torch.tensor([[1.0]]))  # camera 1 unseen: no points there
    level = torch.tensor(3.0, requires_grad=True)
    loss = space.loss(lambda points: level.expand(len(points), 1))
    assert loss.item() == pytest.approx(1.0 - math.exp(-0.3))
    loss.backward()
    assert level.grad > 0  # lower density, lower loss


def test_step_losses_wait_for_the_start_step_and_are_weighted():
    space = CameraFreeSpace(CameraFreeSpaceConfig(loss_mult=0.5, start_step=10), num_cameras=1, seed=0)
    space.place(_cameras([0.0, 0.0, 0.0]))
    density = lambda points: torch.full((len(points), 1), 100.0)  # noqa: E731
    assert space.step_losses(9, torch.tensor([0]), torch.tensor([[1.0]]), density) == {}
    assert space.near.tolist() == [1.0]  # observed before the start step all the same
    losses = space.step_losses(10, torch.tensor([0]), torch.tensor([[1.0]]), density)
    assert losses["camera_free_space_loss"].item() == pytest.approx(0.5 * (1.0 - math.exp(-100.0 * 0.01)))


def test_a_restored_state_draws_the_same_points():
    space = _free_space()
    space.observe(torch.tensor([0, 1]), torch.tensor([[1.0], [2.0]]))
    space.loss(lambda points: torch.zeros(len(points), 1))
    saved = space.state()
    drawn = []
    record = lambda points: drawn.append(points) or torch.zeros(len(points), 1)  # noqa: E731
    space.loss(record)
    resumed = _free_space()
    resumed.load_state(saved)
    resumed.loss(record)
    assert torch.equal(resumed.near, space.near) and torch.equal(drawn[0], drawn[1])


def test_off_at_weight_zero_and_seeded_by_torch():
    assert free_space_of(CameraFreeSpaceConfig(loss_mult=0.0), num_cameras=2) is None
    torch.manual_seed(5)
    first = free_space_of(CameraFreeSpaceConfig(), num_cameras=2)
    torch.manual_seed(5)
    second = free_space_of(CameraFreeSpaceConfig(), num_cameras=2)
    assert first is not None and second is not None and len(first.near) == 2
    assert torch.equal(torch.rand(3, generator=first.generator), torch.rand(3, generator=second.generator))
