import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig

from panoptic_nerfstudio.data.panoptic_dataparser import PanopticDataParserConfig, PanopticSplit
from panoptic_nerfstudio.data.panoptic_dataset import PanopticDataset
from panoptic_nerfstudio.data.panoptic_format import PanopticFormatError, read_panoptic


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_same_frames_and_cameras_as_nerfstudio_data(tiny_scene_master, split):
    ours = PanopticDataParserConfig(data=tiny_scene_master).setup().get_dataparser_outputs(split)
    stock = NerfstudioDataParserConfig(data=tiny_scene_master).setup().get_dataparser_outputs(split)
    assert ours.image_filenames == stock.image_filenames
    assert torch.equal(ours.cameras.camera_to_worlds, stock.cameras.camera_to_worlds)
    assert torch.equal(ours.cameras.fx, stock.cameras.fx)
    panoptic = ours.metadata["panoptic"]
    assert isinstance(panoptic, PanopticSplit)
    assert [l.panoptic.stem for l in panoptic.layers] == [Path(f).stem for f in ours.image_filenames]
    assert all(l.gt_panoptic is not None and l.confidence is not None for l in panoptic.layers)
    assert panoptic.classes.thing_mask.any() and (~panoptic.classes.thing_mask).any()


def test_split_lists_in_transforms_are_honoured(tiny_scene_master):
    meta = json.loads((tiny_scene_master / "transforms.json").read_text())
    test = PanopticDataParserConfig(data=tiny_scene_master).setup().get_dataparser_outputs("test")
    assert sorted(Path(f).name for f in test.image_filenames) == sorted(Path(f).name for f in meta["test_filenames"])


def test_explicit_layer_paths_are_used(tiny_scene):
    meta = json.loads((tiny_scene / "transforms.json").read_text())
    (tiny_scene / "masks_elsewhere").mkdir()
    for frame in meta["frames"]:
        stem = Path(frame["file_path"]).stem
        for ext in (".png", ".json"):
            (tiny_scene / "panoptic" / f"{stem}{ext}").rename(tiny_scene / "masks_elsewhere" / f"m_{stem}{ext}")
        frame["panoptic_file_path"] = f"masks_elsewhere/m_{stem}.png"
    (tiny_scene / "transforms.json").write_text(json.dumps(meta))
    out = PanopticDataParserConfig(data=tiny_scene).setup().get_dataparser_outputs("train")
    assert all(l.panoptic.parent.name == "masks_elsewhere" for l in out.metadata["panoptic"].layers)


def test_missing_mask_fails_naming_the_file(tiny_scene):
    victim = sorted((tiny_scene / "panoptic").glob("*.png"))[0]
    victim.unlink()
    with pytest.raises(PanopticFormatError, match=f"{victim.name}: missing panoptic mask"):
        for split in ("train", "test"):
            PanopticDataParserConfig(data=tiny_scene).setup().get_dataparser_outputs(split)


def test_downscaled_images_get_nearest_downscaled_masks(tiny_scene):
    (tiny_scene / "images_2").mkdir()
    for image in (tiny_scene / "images").glob("*.png"):
        with Image.open(image) as img:
            img.resize((img.width // 2, img.height // 2), Image.Resampling.BILINEAR).save(tiny_scene / "images_2" / image.name)
    outputs = PanopticDataParserConfig(data=tiny_scene, downscale_factor=2).setup().get_dataparser_outputs("train")
    dataset = PanopticDataset(outputs)
    layers = dataset.get_metadata({"image_idx": 0})
    full = read_panoptic(outputs.metadata["panoptic"].layers[0].panoptic)
    assert layers["segment"].shape[:2] == (full.ids.shape[0] // 2, full.ids.shape[1] // 2)
    # every decoded segment id comes from the full-size mask at the matching pixel centre
    ids = dataset.store.segment_id[layers["segment"][..., 0]].numpy()
    assert np.array_equal(ids, full.ids[1::2, 1::2])


def test_evaluation_images_carry_ground_truth_classes_for_ns_eval(tiny_scene_master):
    outputs = PanopticDataParserConfig(data=tiny_scene_master).setup().get_dataparser_outputs("val")
    dataset = PanopticDataset(outputs)
    layers = dataset.get_metadata({"image_idx": 0})
    gt = read_panoptic(outputs.metadata["panoptic"].layers[0].gt_panoptic)
    classes = dataset.classes
    dense = {c.id: i for i, c in enumerate(classes.categories)}
    expected = np.full(gt.ids.shape, -1)
    for segment in gt.segments:
        expected[gt.ids == segment.id] = dense[segment.category_id]
    assert layers["gt_semantics"].shape == (*gt.ids.shape, 1)
    assert np.array_equal(layers["gt_semantics"][..., 0].numpy(), expected)
    assert (expected >= 0).any() and not np.array_equal(expected, layers["semantics"][..., 0].numpy())  # not the 2D input
