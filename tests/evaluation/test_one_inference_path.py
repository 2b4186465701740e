"""One inference path: ``ns-eval`` and ``ns-panoptic eval`` label a trained run alike and agree on its mIoU."""

import pytest
import torch

from panoptic_nerfstudio.cli.trained_run import load_panoptic_run
from panoptic_nerfstudio.evaluation.scene_evaluation import evaluate_scene


@pytest.mark.slow
def test_ns_eval_miou_equals_ns_panoptic_eval_miou(tiny_trained_config):
    _, pipeline, model, _ = load_panoptic_run(tiny_trained_config, test_mode="test")
    dataset = pipeline.datamanager.eval_dataset
    assert len(dataset) > 1  # a split-level mIoU, not one image's
    ns_eval = pipeline.get_average_eval_image_metrics()
    assert model.training  # nerfstudio's ns-eval loop leaves the pipeline in training mode ...
    scene = evaluate_scene(model, dataset)  # ... and evaluation renders in eval mode all the same
    assert ns_eval["miou"] == pytest.approx(scene.lifted_miou, abs=1e-6)
    assert model.training

    # Both read the labels the viewer and ns-render show: the class_id output of the full-image renderer.
    model.eval()
    camera = dataset.cameras[0:1]
    shown = model.get_outputs_for_camera(camera)["class_id"][..., 0].long().cpu()
    assert torch.equal(shown, scene.predictions[0].category)
