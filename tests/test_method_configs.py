import torch
from nerfstudio.engine.optimizers import AdamOptimizerConfig

from panoptic_nerfstudio.method_configs import (
    FusedAdamOptimizerConfig,
    panoptic_lifting_config,
    panoptic_lifting_lite_config,
)


def test_fused_adam_takes_the_steps_of_nerfstudios_adam():
    torch.manual_seed(0)
    start = [torch.randn(64, 2), torch.randn(16)]
    grads = [[torch.randn_like(p) for p in start] for _ in range(5)]
    trained = []
    for config in (AdamOptimizerConfig(lr=1e-2, eps=1e-15), FusedAdamOptimizerConfig(lr=1e-2, eps=1e-15)):
        params = [torch.nn.Parameter(p.clone()) for p in start]
        optimizer = config.setup(params)
        for step in grads:
            for p, g in zip(params, step):
                p.grad = g.clone()
            optimizer.step()
        trained.append(params)
    assert optimizer.defaults["fused"] is True
    for unfused, fused in zip(*trained):
        assert not torch.equal(fused, start[0] if fused.ndim == 2 else start[1])
        assert torch.allclose(unfused, fused, atol=1e-6)


def test_the_lite_preset_trains_with_fused_adam_and_the_paper_preset_as_nerfstudio():
    lite = panoptic_lifting_lite_config().optimizers
    paper = panoptic_lifting_config().optimizers
    assert all(type(group["optimizer"]) is FusedAdamOptimizerConfig for group in lite.values())
    assert all(type(group["optimizer"]) is AdamOptimizerConfig for group in paper.values())


def _rate_after(group: dict, steps: int) -> float:
    """The learning rate a preset's optimizer group trains with after ``steps`` scheduler steps."""
    optimizer = group["optimizer"].setup([torch.nn.Parameter(torch.zeros(1))])
    scheduler = group["scheduler"].setup().get_scheduler(optimizer, group["optimizer"].lr)
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
    return optimizer.param_groups[0]["lr"]


def test_the_lite_heads_rate_decays_to_1e_3_over_the_run_while_the_field_keeps_learning():
    config = panoptic_lifting_lite_config()
    steps = config.max_num_iterations
    assert abs(_rate_after(config.optimizers["panoptic_heads"], steps) - 1e-3) < 1e-5
    assert _rate_after(config.optimizers["fields"], steps) > 3e-3
    assert _rate_after(config.optimizers["proposal_networks"], steps) > 3e-3
    paper = panoptic_lifting_config().optimizers  # the paper-sized preset: one schedule for every group
    assert paper["panoptic_heads"]["scheduler"].max_steps == paper["fields"]["scheduler"].max_steps
