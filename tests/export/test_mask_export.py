"""``ns-panoptic export masks``: a trained run's labels written as a scene that validates, trains, keeps 3D ids
across frames, and (after a few hundred steps) beats its own input masks at PQ^scene."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from nerfstudio.configs.method_configs import method_configs

from panoptic_nerfstudio.cli.mask_export_command import ExportMasks
from panoptic_nerfstudio.cli.trained_run import load_panoptic_run
from panoptic_nerfstudio.data.panoptic_format import Category, ClassTable, read_classes, read_confidence, read_panoptic
from panoptic_nerfstudio.data.scene_layout import load_transforms
from panoptic_nerfstudio.data.validation import validate_scene
from panoptic_nerfstudio.evaluation.panoptic_quality import (
    PanopticFrameLabels,
    frames_with_unique_ids,
    scene_panoptic_quality,
)
from panoptic_nerfstudio.evaluation.scene_evaluation import labels_of
from panoptic_nerfstudio.export.mask_export import REPORT_FILENAME, encode_frame, max_instance_id
from panoptic_nerfstudio.export.scene_transforms import EXPORT_KEY
from panoptic_nerfstudio.export.split_frames import source_frames, split_datasets
from panoptic_nerfstudio.inference.panoptic_rule import KEEP_CLASS
from tests.console_scripts import ROOM_TIMEOUT, run_tool


def export(config, out, *options):
    return run_tool(["ns-panoptic", "export", "masks", "--load-config", config, "--output-dir", out, *options])


def segments_by_id(scene: Path):
    """Every (segment id -> category id) pair of the exported masks, over all frames."""
    pairs = set()
    for json_path in sorted((scene / "panoptic").glob("*.json")):
        for entry in json.loads(json_path.read_text())["segments_info"]:
            pairs.add((entry["id"], entry["category_id"], entry["isthing"]))
    return pairs


@pytest.mark.slow
def test_the_export_of_the_tiny_run_is_a_valid_scene_with_3d_ids(tiny_trained_config, tiny_scene_master, tmp_path):
    out = tmp_path / "masks"
    result = export(tiny_trained_config, out, "--split", "all")
    assert "class changed" in result.stdout and "PQ^scene" in result.stdout
    assert validate_scene(out).ok
    source, _ = load_transforms(tiny_scene_master)
    meta, _ = load_transforms(out)
    assert len(meta["frames"]) == len(source["frames"])  # train and eval frames
    assert meta["train_filenames"] == source["train_filenames"] and meta[EXPORT_KEY]["split"] == "all"
    by_name = {Path(f["file_path"]).name: f["transform_matrix"] for f in source["frames"]}
    assert all(f["transform_matrix"] == by_name[Path(f["file_path"]).name] for f in meta["frames"])  # poses kept
    assert read_classes(out / "panoptic_classes.json") == read_classes(tiny_scene_master / "panoptic_classes.json")

    _, pipeline, model, _ = load_panoptic_run(tiny_trained_config)
    classes, top = model.classes, max_instance_id(model)
    pairs = segments_by_id(out)
    # one id, one class in every frame: a stuff class has one id (above every 3D id), a thing id is a 3D instance
    assert len({segment_id for segment_id, _, _ in pairs}) == len(pairs)
    for segment_id, category_id, isthing in pairs:
        assert isthing == classes.by_id(category_id).isthing
        if not isthing:
            assert segment_id == top + 1 + classes.index_of(category_id)
    # the ids are the model's 3D instance ids of each frame (what the viewer and ns-render show), one 3D id per
    # written id in every frame; instances the run's table does not know are written per (instance, class) pair
    frames = source_frames(split_datasets(pipeline.datamanager, "all"), *load_transforms(tiny_scene_master), 1)
    table, to_3d = model.instance_table.classes, {}
    for frame in frames[:3]:
        shown = model.get_outputs_for_camera(frame.camera)
        written = read_panoptic(out / "panoptic" / f"{frame.stem}.png")
        thing = shown["instance_id"][..., 0].long().cpu()
        known = ((thing > 0) & (table[thing] >= 0)).numpy()
        assert np.array_equal(written.ids[known], thing.numpy()[known])
        for segment_id, instance in set(zip(written.ids[thing > 0].tolist(), thing[thing > 0].tolist())):
            to_3d.setdefault(segment_id, set()).add(instance)
        categories = {s.id: s.category_id for s in written.segments}
        class_ids = np.vectorize(categories.get)(written.ids)
        assert np.array_equal(class_ids, shown["class_id"][..., 0].long().cpu().numpy())
        confidence = read_confidence(out / "confidence" / f"{frame.stem}.png")
        np.testing.assert_allclose(confidence, shown["confidence"][..., 0].cpu().numpy().clip(0, 1), atol=1e-4)
    assert to_3d and all(len(instances) == 1 for instances in to_3d.values())
    report = json.loads((out / REPORT_FILENAME).read_text())
    assert len(report["frames"]) == len(frames) and "pq_scene" in report


@pytest.mark.slow
def test_a_downscaled_training_split_export_trains(tiny_trained_config, tiny_scene_master, tmp_path):
    out = tmp_path / "masks"
    export(tiny_trained_config, out, "--split", "train", "--downscale", "2")
    assert validate_scene(out).ok
    source, _ = load_transforms(tiny_scene_master)
    meta, _ = load_transforms(out)
    assert len(meta["frames"]) == len(source["train_filenames"])
    assert "train_filenames" not in meta  # its val list would be empty: nerfstudio's --eval-mode splits it
    assert (meta["w"], meta["h"]) == (source["w"] // 2, source["h"] // 2)
    assert meta["fl_x"] == pytest.approx(source["fl_x"] / 2) and meta["cx"] == pytest.approx(source["cx"] / 2)
    assert read_panoptic(sorted((out / "panoptic").glob("*.png"))[0]).ids.shape == (source["h"] // 2, source["w"] // 2)
    # an earlier export may be overwritten
    export(tiny_trained_config, out, "--split", "train", "--downscale", "2")
    run_tool(["ns-train", "panoptic-lifting-lite", "--data", out, "--output-dir", tmp_path / "runs",
              "--max-num-iterations", "2", "--viewer.quit-on-train-completion", "True",
              "--pipeline.datamanager.train-num-rays-per-batch", "128"])  # fmt: skip
    assert list((tmp_path / "runs").rglob("step-*.ckpt"))


@pytest.mark.slow
@pytest.mark.timeout(ROOM_TIMEOUT)
def test_training_frame_masks_beat_the_input_masks_at_pq_scene(room_trained_config, tmp_path):
    """Label transfer: the exported training-frame masks score a higher PQ^scene than the 2D input masks, with no
    per-frame matching (the export's ids must agree across frames; the input's per-frame ids cannot)."""
    out = tmp_path / "masks"
    export(room_trained_config, out, "--split", "train")
    scene = Path(yaml.load(room_trained_config.read_text(), Loader=yaml.Loader).pipeline.datamanager.data)  # --data
    classes = read_classes(scene / "panoptic_classes.json")
    exported, given, targets = [], [], []
    meta, _ = load_transforms(out)
    for frame in meta["frames"]:
        stem, size = Path(frame["file_path"]).stem, (meta["w"], meta["h"])
        exported.append(labels_of(out / "panoptic" / f"{stem}.png", classes, size))
        given.append(labels_of(scene / "panoptic" / f"{stem}.png", classes, size))
        targets.append(labels_of(scene / "gt_panoptic" / f"{stem}.png", classes, size))
    lifted = scene_panoptic_quality(exported, targets, classes)
    masks = scene_panoptic_quality(frames_with_unique_ids(given), targets, classes)
    print(f"PQ^scene of {len(targets)} training frames: exported {lifted.all.pq:.1f} (things {lifted.things.pq:.1f}, "
          f"stuff {lifted.stuff.pq:.1f}), input masks {masks.all.pq:.1f} (things {masks.things.pq:.1f}, "
          f"stuff {masks.stuff.pq:.1f})")  # fmt: skip
    assert lifted.all.pq > masks.all.pq
    report = json.loads((out / REPORT_FILENAME).read_text())  # the command scores it alike
    assert report["pq_scene"]["exported"]["pq"] == pytest.approx(lifted.all.pq, abs=1e-6)
    assert report["pq_scene"]["input"]["pq"] == pytest.approx(masks.all.pq, abs=1e-6)


def test_instances_the_run_does_not_know_are_written_per_class_and_known_ones_by_3d_id():
    classes = ClassTable([Category(0, "wall", False, (1, 1, 1)), Category(3, "chair", True, (2, 2, 2)),
                          Category(4, "sofa", True, (3, 3, 3))])  # fmt: skip
    table = torch.tensor([KEEP_CLASS, 1, KEEP_CLASS])  # 3D id 1 is a chair; id 2 was never seen by the table
    labels = PanopticFrameLabels(torch.tensor([[0, 3, 3, 4]]), torch.tensor([[0, 1, 2, 2]]))
    frame = encode_frame(labels, np.full((1, 4), 0.5, np.float32), classes, 2, table)
    top, pair = 2, lambda instance, index: 2 + 3 + 1 + (instance - 1) * 3 + index
    assert frame.ids.tolist() == [[top + 1 + 0, 1, pair(2, 1), pair(2, 2)]]
    assert {(s.id, s.category_id, s.score) for s in frame.segments} == {
        (3, 0, 0.5), (1, 3, 0.5), (pair(2, 1), 3, 0.5), (pair(2, 2), 4, 0.5)
    }


def test_a_config_of_another_method_is_refused_before_writing(tmp_path, capsys):
    config_path = tmp_path / "config.yml"
    config_path.write_text(yaml.dump(method_configs["nerfacto"]))
    assert ExportMasks(load_config=config_path, output_dir=tmp_path / "out").main() == 1
    assert "nerfacto" in capsys.readouterr().out and not (tmp_path / "out").exists()


def test_the_output_must_be_new_empty_or_an_earlier_export(tmp_path):
    from panoptic_nerfstudio.cli.command_errors import CommandError

    scene, out = tmp_path / "scene", tmp_path / "out"
    (out / "images").mkdir(parents=True)
    command = ExportMasks(load_config=tmp_path / "config.yml", output_dir=out)
    with pytest.raises(CommandError, match="not an earlier mask export"):
        command._check_output(scene)
    (out / "transforms.json").write_text(json.dumps({"frames": [], EXPORT_KEY: {}}))
    command._check_output(scene)  # an earlier export: rewritten
    with pytest.raises(CommandError, match="own scene"):
        ExportMasks(load_config=tmp_path / "config.yml", output_dir=scene)._check_output(scene)
