import torch

from panoptic_nerfstudio.method_configs import panoptic_lifting_lite_config


def test_segmentation_losses_fall_on_a_tiny_scene(tiny_scene_master):
    torch.manual_seed(0)
    config = panoptic_lifting_lite_config()
    config.pipeline.datamanager.data = tiny_scene_master
    config.pipeline.datamanager.train_num_rays_per_batch = 512
    config.pipeline.model.instance_loss_start_step = 0
    config.pipeline.model.consistency_loss_start_step = 0
    pipeline = config.pipeline.setup(device="cpu", test_mode="val")
    pipeline.train()
    optimizer = torch.optim.Adam(pipeline.parameters(), lr=1e-2, eps=1e-15)
    history = {"rgb_loss": [], "semantic_loss": [], "instance_loss": []}
    for step in range(150):
        pipeline.model.train_step = step
        _, losses, _ = pipeline.get_train_loss_dict(step)
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
        for key in history:
            history[key].append(float(losses[key]))
    for key, values in history.items():
        early, late = sum(values[:20]) / 20, sum(values[-20:]) / 20
        assert late < 0.7 * early, f"{key} did not fall: {early:.4f} -> {late:.4f}"
