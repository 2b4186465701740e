import torch

from tests.training_steps import lite_pipeline, train_steps


def test_segmentation_losses_fall_on_a_tiny_scene(tiny_scene_master):
    torch.manual_seed(0)
    pipeline = lite_pipeline(tiny_scene_master, rays_per_batch=512)
    history = {"rgb_loss": [], "semantic_loss": [], "instance_loss": []}
    for losses in train_steps(pipeline, 150):
        for key in history:
            history[key].append(float(losses[key]))
    for key, values in history.items():
        early, late = sum(values[:20]) / 20, sum(values[-20:]) / 20
        assert late < 0.7 * early, f"{key} did not fall: {early:.4f} -> {late:.4f}"
