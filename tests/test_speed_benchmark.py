"""``benchmarks/speed.py``: its row on the slower paths (the hash grid and contraction as they ran before the pair
gather) trains the lite model to the very weights of the preset's faster paths, so the rows differ in speed only."""

import pytest
import torch

from tests.benchmark_scripts import benchmark_module


@pytest.fixture(scope="module")
def speed_benchmark():
    yield from benchmark_module("speed")


def test_the_slower_paths_train_to_the_same_weights_bit_for_bit(speed_benchmark, tiny_scene):
    states = []
    for slower in (False, True):
        torch.manual_seed(0)
        trainee = speed_benchmark.Trainee(
            "lite", speed_benchmark.panoptic_lifting_lite_config().pipeline.model, tiny_scene, slower_paths=slower
        )
        model = trainee.pipeline.model
        kinds = {type(module).__name__ for module in model.modules()}
        assert ("HashEncodingBefore" in kinds, "FastSceneContraction" in kinds) == (slower, not slower)
        initial = {name: value.clone() for name, value in model.state_dict().items() if torch.is_tensor(value)}
        for _ in range(6):
            trainee.step()
        state = {name: value for name, value in model.state_dict().items() if torch.is_tensor(value)}
        assert not torch.equal(state["field.mlp_base.model.0.hash_table"], initial["field.mlp_base.model.0.hash_table"])
        states.append(state)
    assert states[0].keys() == states[1].keys()
    assert [name for name in states[0] if not torch.equal(states[0][name], states[1][name])] == []


def test_the_preset_rows_time_the_free_space_loss_and_its_own_row_does_not(speed_benchmark, tiny_scene):
    for loss_mult in (0.1, 0.0):
        model_config = speed_benchmark.panoptic_lifting_lite_config().pipeline.model
        model_config.camera_free_space.loss_mult = loss_mult
        trainee = speed_benchmark.Trainee("lite", model_config, tiny_scene)
        _, losses, _ = trainee.pipeline.get_train_loss_dict(0)
        assert ("camera_free_space_loss" in losses) == (loss_mult > 0)


def test_the_error_map_row_records_each_steps_errors_and_the_other_rows_have_no_map(speed_benchmark, tiny_scene):
    """The rows time what ``ns-train`` does each step: the error map's row draws by the map and records each step's
    colour errors in it (through the panoptic pipeline, as ``ns-train``); the other rows draw without one."""
    for error_map in (True, False):
        model_config = speed_benchmark.panoptic_lifting_lite_config().pipeline.model
        trainee = speed_benchmark.Trainee("lite", model_config, tiny_scene, error_map=error_map)
        recorded = trainee.pipeline.datamanager.train_ray_sampler.error_map
        assert (recorded is not None) == error_map
        trainee.step()
        if error_map:
            assert not torch.all(recorded.error == 1.0)  # the step's errors replaced the initial ones of its pixels
