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
        # Measured (seed 0): rgb 0.19, semantic 0.70, instance 0.58 of their early values; 0.69 for the semantic loss
        # when busy frames (more things than half of the 16 groups: one of the tiny scene's eight) covered 8 things.
        assert late < 0.8 * early, f"{key} did not fall: {early:.4f} -> {late:.4f}"
