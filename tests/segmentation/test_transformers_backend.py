"""The transformers path with tiny randomly initialised Mask2Formers saved to disk and loaded like a user's model."""

import numpy as np
import pytest
import torch

from panoptic_nerfstudio.segmentation import transformers_backend
from panoptic_nerfstudio.segmentation.backend import BackendUnavailableError, PanopticThresholds
from panoptic_nerfstudio.segmentation.label_map import load_label_map
from panoptic_nerfstudio.segmentation.mask_generation import MaskGenerator
from panoptic_nerfstudio.segmentation.scene_frames import read_rgb, scene_frame_targets
from panoptic_nerfstudio.segmentation.transformers_backend import TransformersBackend, load_mask2former
from panoptic_nerfstudio.segmentation.tta_merging import Augmentation, tta_augmentations
from tests.segmentation.tiny_mask2former import COCO_NAMES

MISSING_HUB_MODEL = "panoptic-nerfstudio-tests/no-such-mask2former"


@pytest.fixture
def images(raw_scene):
    _, targets = scene_frame_targets(raw_scene)
    return [read_rgb(t.image) for t in targets]


def test_local_directory_loads_with_its_classes(mixed_model):
    backend = TransformersBackend.from_pretrained(str(mixed_model), "cpu")
    assert backend.class_names == COCO_NAMES
    assert not backend.model.training


def test_views_cover_the_image_and_only_identity_has_a_panoptic_output(mixed_model, images):
    backend = TransformersBackend.from_pretrained(str(mixed_model), "cpu", PanopticThresholds(object_score=0.5))
    odd = np.ascontiguousarray(images[0][:20, :30])  # another size in the same batch
    batch = [images[0], odd, images[1]]
    identity = backend.run(batch, Augmentation(), panoptic=True)
    for image, output in zip(batch, identity):
        assert output.class_scores.shape[0] == 133 and bool((output.class_scores >= 0).all())
        assert output.panoptic.ids.shape == image.shape[:2]
        present = set(np.unique(output.panoptic.ids)) - {0}
        assert present <= {s.id for s in output.panoptic.segments}
        assert all(s.class_name in COCO_NAMES and 0.5 < s.score <= 1 for s in output.panoptic.segments)
    flipped = backend.run(batch, Augmentation(1.0, flip=True), panoptic=False)
    assert all(o.panoptic is None for o in flipped)
    # A mirrored view of a mirrored image is the original view, mirrored.
    mirrored_input = [np.ascontiguousarray(images[0][:, ::-1])]
    twice = backend.run(mirrored_input, Augmentation(1.0, flip=True), panoptic=False)[0].class_scores
    torch.testing.assert_close(twice, identity[0].class_scores, atol=1e-5, rtol=1e-4)
    double = backend.run([images[0]], Augmentation(2.0), panoptic=False)[0].class_scores
    assert double.shape[-1] > identity[0].class_scores.shape[-1]


def test_certain_chair_model_gives_chair_instances_with_high_confidence(chair_model, images):
    # the tiny model's queries overlap a lot; without the overlap filter each keeps the pixels it wins
    backend = TransformersBackend.from_pretrained(str(chair_model), "cpu", PanopticThresholds(overlap=0.0))
    generator = MaskGenerator(backend, load_label_map("indoor21"), tta_augmentations((0.75, 1.0), flip=True))
    chair_id = generator.label_map.classes.categories[generator.label_map.target_of("chair")].id
    base = backend.run(images, Augmentation(), panoptic=True)
    for result, model_output in zip(generator.segment(images), base):
        frame = result.frame
        assert frame.segments and all(s.category_id == chair_id and s.isthing for s in frame.segments)
        # instances are the model's own segments: one output segment per model segment, pixel for pixel
        assert len(frame.segments) == len(set(np.unique(model_output.panoptic.ids)) - {0})
        np.testing.assert_array_equal(frame.ids != 0, model_output.panoptic.ids != 0)
        assert result.confidence[frame.ids != 0].min() > 0.99
        assert np.all(result.confidence[frame.ids == 0] == 0)


def test_certain_wall_model_gives_one_wall_segment(wall_model, images):
    backend = TransformersBackend.from_pretrained(str(wall_model), "cpu")
    generator = MaskGenerator(backend, load_label_map("indoor21"), [Augmentation()])
    for result in generator.segment(images):
        assert [(generator.label_map.classes.by_id(s.category_id).name, s.isthing) for s in result.frame.segments] == [
            ("wall", False)
        ]
        assert np.all(result.frame.ids == result.frame.segments[0].id)


def test_missing_hub_weights_fail_fast_offline_with_instructions(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(transformers_backend, "hub_reachable", _never_called)
    with pytest.raises(BackendUnavailableError) as err:
        load_mask2former(MISSING_HUB_MODEL)
    message = str(err.value)
    assert "HF_HUB_OFFLINE" in message and MISSING_HUB_MODEL in message
    assert "--model path/to/m2f" in message and f"hf download {MISSING_HUB_MODEL}" in message


def test_unreachable_hub_fails_fast_without_trying_to_download(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(transformers_backend, "hub_offline", lambda: False)
    monkeypatch.setattr(transformers_backend, "hub_reachable", lambda timeout=3.0: False)
    loads = []
    original = transformers_backend._load

    def only_from_cache(source, device, local_files_only):
        loads.append(local_files_only)
        assert local_files_only, "a download was attempted"
        return original(source, device, local_files_only)

    monkeypatch.setattr(transformers_backend, "_load", only_from_cache)
    with pytest.raises(BackendUnavailableError, match="cannot be reached"):
        load_mask2former(MISSING_HUB_MODEL)
    assert loads == [True]


def test_bad_local_paths_are_named(tmp_path):
    with pytest.raises(BackendUnavailableError, match="no such model directory"):
        load_mask2former(str(tmp_path / "missing" / "m2f"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackendUnavailableError, match="not a Mask2Former model directory"):
        load_mask2former(str(tmp_path / "empty"))


def _never_called(*args, **kwargs):
    raise AssertionError("the hub was contacted although downloads are off")
