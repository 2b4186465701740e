"""``benchmarks/surface_samples.py``: training-view pixels by where the field renders their surface, and whether any
field sample lay on the object."""

import numpy as np
import pytest
import torch

from tests.benchmark_scripts import benchmark_module


@pytest.fixture(scope="module")
def surface_benchmark():
    yield from benchmark_module("surface_samples")


def test_rays_are_counted_at_in_front_of_or_behind_the_surface_and_unsampled_behind(surface_benchmark):
    distance = torch.tensor([2.0, 2.0, 2.0, 2.0, 2.0])
    depth = torch.tensor([2.1, 1.0, 4.0, 4.0, 2.5])  # at; in front; behind twice; exactly BEHIND (1.25) still at
    midpoints = torch.tensor([
        [1.0, 2.01, 3.0],  # a sample on the object
        [0.5, 1.0, 1.5],  # none: in front
        [1.0, 2.04, 4.0],  # behind, but one sample on the object (within the window of 0.05)
        [1.0, 2.2, 4.0],  # behind, no sample on the object: the sampler never offered it
        [1.9, 2.5, 3.0],  # a sample just in front of the surface is not on the object
    ])  # fmt: skip
    p = surface_benchmark.placement(depth, distance, midpoints, window=0.05)
    assert (p.pixels, p.at_surface, p.in_front, p.behind, p.behind_unsampled) == (5, 2, 1, 2, 1)


def test_placements_add_up(surface_benchmark):
    total = surface_benchmark.Placement(3, 1, 1, 1, 0)
    total.add(surface_benchmark.Placement(2, 0, 0, 2, 2))
    assert total == surface_benchmark.Placement(5, 1, 1, 3, 2)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_every_training_pixel_of_a_class_is_placed_once(surface_benchmark, tiny_trained_config, tiny_scene_master):
    from coverage import demo_geometry

    geometry = demo_geometry(tiny_scene_master)
    truth = [geometry.surface(geometry.hits(name))[0] for name in geometry.meta["train_filenames"]]
    present = [name for index, name in enumerate(geometry.names) if any((t == index).any() for t in truth)]
    placements = surface_benchmark.run_placements(tiny_trained_config, present[:3], surface_benchmark.WINDOW)
    assert list(placements) == present[:3]
    for name, p in placements.items():
        assert p.pixels == sum(int((t == geometry.names.index(name)).sum()) for t in truth) > 0
        assert p.at_surface + p.in_front + p.behind == p.pixels
        assert 0 <= p.behind_unsampled <= p.behind
    with pytest.raises(SystemExit, match=r"config.yml: no class unicorn in this run"):
        surface_benchmark.run_placements(tiny_trained_config, ["unicorn"], surface_benchmark.WINDOW)
