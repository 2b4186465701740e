"""Partial layers: frames without masks are refused by default, and train on RGB only when the user opts in."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import tyro

from nerfstudio.engine.trainer import TrainerConfig

from panoptic_nerfstudio.cli.validate_command import Validate
from panoptic_nerfstudio.data.frame_decoding import IGNORE
from panoptic_nerfstudio.data.panoptic_datamanager import PanopticDataManagerConfig
from panoptic_nerfstudio.data.panoptic_dataparser import PanopticDataParserConfig
from panoptic_nerfstudio.data.panoptic_format import PanopticFormatError
from panoptic_nerfstudio.data.segment_ray_sampler import SegmentRaySamplerConfig
from panoptic_nerfstudio.data.validation import validate_scene
from panoptic_nerfstudio.method_configs import panoptic_lifting_lite_config

UNLABELLED = ["frame_00002", "frame_00004"]  # one training frame, one evaluation frame (eval_every=4)


def _remove_masks(scene: Path, stems=UNLABELLED) -> None:
    for stem in stems:
        for ext in (".png", ".json"):
            (scene / "panoptic" / f"{stem}{ext}").unlink()


def _datamanager(scene: Path, allow: bool):
    config = PanopticDataManagerConfig(
        dataparser=PanopticDataParserConfig(data=scene),
        train_num_rays_per_batch=512,
        ray_sampler=SegmentRaySamplerConfig(images_per_batch=6, rays_per_segment=8),
        allow_missing_masks=allow,
    )
    return config.setup(device="cpu", test_mode="val")


def test_without_the_flag_training_stops_naming_every_frame(tiny_scene):
    _remove_masks(tiny_scene)
    with pytest.raises(PanopticFormatError) as err:
        _datamanager(tiny_scene, allow=False)
    message = str(err.value)
    assert "missing panoptic mask" in message and "--pipeline.datamanager.allow-missing-masks" in message
    train_frame = UNLABELLED[0]  # the training split is parsed first
    assert f"panoptic/{train_frame}.png" in message


def test_validate_fails_naming_them_unless_allowed(tiny_scene, capsys):
    _remove_masks(tiny_scene)
    report = validate_scene(tiny_scene)
    assert not report.ok and len(report.problems) == len(UNLABELLED)
    for stem in UNLABELLED:
        assert any(f"panoptic/{stem}.png" in p and "missing panoptic mask" in p for p in report.problems)

    allowed = validate_scene(tiny_scene, allow_missing_masks=True)
    assert allowed.ok, allowed.problems
    assert allowed.frames_without_masks == [f"{stem}.png" for stem in UNLABELLED]
    assert len(allowed.frames) + len(allowed.frames_without_masks) == allowed.total_frames

    capsys.readouterr()
    assert Validate(scene=tiny_scene).main() == 1
    assert Validate(scene=tiny_scene, allow_missing_masks=True).main() == 0
    printed = capsys.readouterr().out
    assert "frames without masks" in printed and all(f"{stem}.png" in printed for stem in UNLABELLED)


def test_a_named_mask_that_is_missing_stays_an_error(tiny_scene):
    meta = json.loads((tiny_scene / "transforms.json").read_text())
    meta["frames"][1]["panoptic_file_path"] = "panoptic/renamed.png"
    (tiny_scene / "transforms.json").write_text(json.dumps(meta))
    with pytest.raises(PanopticFormatError, match="renamed.png: named by 'panoptic_file_path'"):
        _datamanager(tiny_scene, allow=True)
    report = validate_scene(tiny_scene, allow_missing_masks=True)
    assert any("renamed.png" in p for p in report.problems)


def test_frames_without_masks_train_rgb_only(tiny_scene, capsys):
    _remove_masks(tiny_scene)
    dm = _datamanager(tiny_scene, allow=True)
    printed = capsys.readouterr().out
    assert printed.count("have no panoptic mask") == 1  # one warning for both splits
    assert f"{len(UNLABELLED)} of 8 frames" in printed and all(stem in printed for stem in UNLABELLED)

    dataset = dm.train_dataset
    names = [Path(f).stem for f in dataset.image_filenames]
    unlabelled = names.index(UNLABELLED[0])
    assert dataset.frames_without_masks == [f"{UNLABELLED[0]}.png"]

    seen_unlabelled = seen_labelled = 0
    for step in range(20):
        _, batch = dm.next_train(step)
        frame = batch["indices"][:, 0]
        mine = frame == unlabelled
        seen_unlabelled += int(mine.sum())
        seen_labelled += int((batch["semantics"][~mine] >= 0).sum())
        # no labels and no segment of their own: the frame's void row, which every segment loss skips
        assert (batch["semantics"][mine] == IGNORE).all() and (batch["instance"][mine] == IGNORE).all()
        void_row = dataset.store.frame_segment_offset[unlabelled]
        assert (batch["segment"][mine] == void_row).all()
        assert torch.isfinite(batch["image"][mine]).all()
    assert seen_unlabelled > 0 and seen_labelled > 0  # still drawn for RGB, beside labelled frames

    evaluation = dm.eval_dataset
    index = [Path(f).stem for f in evaluation.image_filenames].index(UNLABELLED[1])
    layers = evaluation.get_metadata({"image_idx": index})  # what ns-eval's image metrics see
    assert (layers["semantics"] == IGNORE).all() and (layers["gt_semantics"] >= 0).any()


def test_the_flag_is_on_the_ns_train_command_line():
    config = tyro.cli(
        tyro.conf.FlagConversionOff[TrainerConfig],
        default=panoptic_lifting_lite_config(),
        args=["--pipeline.datamanager.allow-missing-masks", "True"],
    )
    assert config.pipeline.datamanager.allow_missing_masks is True


@pytest.mark.slow
def test_ns_train_runs_with_frames_without_masks(tiny_scene, tmp_path):
    _remove_masks(tiny_scene)
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "ns-train"), "panoptic-lifting-lite", "--data", str(tiny_scene),
            "--output-dir", str(tmp_path), "--max-num-iterations", "4", "--viewer.quit-on-train-completion", "True",
            "--pipeline.datamanager.train-num-rays-per-batch", "256",
            "--pipeline.datamanager.allow-missing-masks", "True",
        ],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "2 of 8 frames have no panoptic mask" in result.stdout
    assert list(tmp_path.rglob("*.ckpt"))
