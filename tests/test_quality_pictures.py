"""``benchmarks/quality_pictures.py``: a lifted column per run of the scene, drawn from its predictions."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from panoptic_nerfstudio.data.scene_layout import load_transforms
from tests.benchmark_scripts import REPO, benchmark_module


@pytest.fixture(scope="module")
def pictures():
    yield from benchmark_module("quality_pictures")


def predictions_of(scene, out, stems):
    """A folder of 'predictions' that are the frames' ground truth (PNG and JSON)."""
    out.mkdir()
    for stem in stems:
        for suffix in (".png", ".json"):
            shutil.copy(scene / "gt_panoptic" / f"{stem}{suffix}", out / f"{stem}{suffix}")
    return out


def eval_stems(scene):
    meta, _ = load_transforms(scene)
    return sorted(Path(name).stem for name in meta["val_filenames"])


def test_each_folder_of_predictions_gets_a_lifted_column(pictures, tiny_scene, tmp_path):
    stems = eval_stems(tiny_scene)[:2]
    same = predictions_of(tiny_scene, tmp_path / "same", stems)
    blank = predictions_of(tiny_scene, tmp_path / "blank", stems)
    for stem in stems:  # the second folder's frames all void: its tiles must come out black
        Image.fromarray(np.zeros_like(np.asarray(Image.open(blank / f"{stem}.png")))).save(blank / f"{stem}.png")
    one = pictures.write_scene_picture(tiny_scene, [same], tmp_path / "one.png", frames=2)
    two = pictures.write_scene_picture(tiny_scene, [same, blank], tmp_path / "two.png", frames=2)

    picture = np.asarray(Image.open(two))
    height, width = np.asarray(Image.open(tiny_scene / "gt_panoptic" / f"{stems[0]}.png")).shape[:2]
    scale, gap = pictures.SCALE, 2 * pictures.SCALE
    assert picture.shape[:2] == (2 * height * scale + gap, 5 * width * scale + 4 * gap)
    assert np.asarray(Image.open(one)).shape[1] == 4 * width * scale + 3 * gap

    def tile(column):  # the first row's tile of that column, at the picture's scale
        left = column * (width * scale + gap)
        return picture[: height * scale, left : left + width * scale]

    assert np.array_equal(tile(2), tile(4))  # predictions equal to the ground truth draw as the ground truth
    assert not tile(3).any() and tile(2).any()  # the all-void predictions draw black


def test_a_folder_missing_a_frame_of_the_first_is_named(pictures, tiny_scene, tmp_path):
    stems = eval_stems(tiny_scene)[:2]
    full = predictions_of(tiny_scene, tmp_path / "full", stems)
    short = predictions_of(tiny_scene, tmp_path / "short", stems[:1])
    with pytest.raises(FileNotFoundError, match=f"short: no prediction of {stems[1]}"):
        pictures.write_scene_picture(tiny_scene, [full, short], tmp_path / "x.png", frames=2)


def test_the_command_writes_the_picture(pictures, tiny_scene, tmp_path):
    stems = eval_stems(tiny_scene)[:1]
    folder = predictions_of(tiny_scene, tmp_path / "pred", stems)
    out = tmp_path / "picture.png"
    command = [sys.executable, str(REPO / "benchmarks" / "quality_pictures.py"), "--scene", str(tiny_scene),
               "--predictions", str(folder), str(folder), "--out", str(out), "--frames", "1"]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    width = np.asarray(Image.open(tiny_scene / "gt_panoptic" / f"{stems[0]}.png")).shape[1]
    scale, gap = pictures.SCALE, 2 * pictures.SCALE
    assert np.asarray(Image.open(out)).shape[1] == 5 * width * scale + 4 * gap  # two lifted columns
