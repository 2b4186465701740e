"""``ns-panoptic convert panoptic-lifting``: argument parsing, folders of scenes, errors, and the round trip
through training and evaluation."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tyro

from panoptic_nerfstudio.cli.convert_command import Convert
from panoptic_nerfstudio.data.validation import validate_scene

BIN = Path(sys.executable).parent


def test_command_line_parses_into_the_convert_command():
    """(Registration under ``ns-panoptic convert`` is exercised by the slow end-to-end test.)"""
    command = tyro.cli(
        Convert,
        args=[
            "panoptic-lifting",
            "src",
            "out",
            "--confidence",
            "notta",
            "--max-frames",
            "40",
            "--downscale",
            "4",
            "--overwrite",
        ],
    )
    assert (command.src_scene, command.out_scene) == (Path("src"), Path("out"))
    assert (command.confidence, command.max_frames, command.downscale, command.overwrite) == ("notta", 40, 4, True)


def _convert(src, out, **options) -> Convert:
    return Convert("panoptic-lifting", Path(src), Path(out), **options)


def test_folder_of_scenes_converts_each_below_the_output(authors_scene_master, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(authors_scene_master.root, data / "scannet" / "scene0423_02")
    shutil.copytree(authors_scene_master.root, data / "replica" / "room_0")
    assert _convert(data, tmp_path / "converted", max_frames=3).main() == 0
    for scene in ("scannet/scene0423_02", "replica/room_0"):
        out = tmp_path / "converted" / scene
        assert validate_scene(out).ok
        assert len(json.loads((out / "transforms.json").read_text())["frames"]) == 3
    printed = capsys.readouterr().out
    assert "scene0423_02" in printed and "room_0" in printed and "3 of 8" in printed


def test_a_broken_scene_is_reported_and_the_others_converted(authors_scene_master, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(authors_scene_master.root, data / "good")
    shutil.copytree(authors_scene_master.root, data / "broken")
    (data / "broken" / "intrinsic" / "intrinsic_color.txt").unlink()
    assert _convert(data, tmp_path / "converted").main() == 1
    printed = capsys.readouterr().out
    assert "intrinsic_color.txt" in printed and "missing camera intrinsics" in printed and "Traceback" not in printed
    assert validate_scene(tmp_path / "converted" / "good").ok
    assert not (tmp_path / "converted" / "broken").exists()


def test_bad_option_is_an_error_not_a_traceback(authors_scene_master, tmp_path, capsys):
    assert _convert(authors_scene_master.root, tmp_path / "out", downscale=0).main() == 1
    assert "--downscale 0" in capsys.readouterr().out


def _run(args, timeout=600):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(
        [str(BIN / args[0]), *map(str, args[1:])], capture_output=True, text=True, timeout=timeout, env=env
    )
    assert result.returncode == 0, f"{args[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.mark.slow
def test_convert_train_and_evaluate(authors_scene_master, tmp_path):
    """The user's path: convert their scene, train a few steps, evaluate against the converted ground truth."""
    scene = tmp_path / "scene"
    result = _run(["ns-panoptic", "convert", "panoptic-lifting", authors_scene_master.root, scene])
    assert "Converted 1 scene(s)" in result.stdout
    _run(
        [
            "ns-train",
            "panoptic-lifting-lite",
            "--data",
            scene,
            "--output-dir",
            tmp_path / "runs",
            "--experiment-name",
            "imported",
            "--timestamp",
            "t",
            "--max-num-iterations",
            "20",
            "--steps-per-save",
            "20",
            "--viewer.quit-on-train-completion",
            "True",
            "--pipeline.datamanager.train-num-rays-per-batch",
            "256",
        ]
    )
    config = tmp_path / "runs" / "imported" / "panoptic-lifting-lite" / "t" / "config.yml"
    _run(["ns-panoptic", "eval", "--load-config", config, "--output-dir", tmp_path / "eval"])
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["frames"] == len(authors_scene_master.test)
    for key in ("lifted_pq", "input_pq", "lifted_miou", "psnr"):
        assert metrics[key] == metrics[key], key  # present and not NaN
    assert 0 < metrics["input_pq"] <= 100  # the converted 2D masks score against the converted ground truth
    predictions = sorted(p.stem for p in (tmp_path / "eval" / "pred").glob("*.png"))
    assert predictions == sorted(authors_scene_master.test)
