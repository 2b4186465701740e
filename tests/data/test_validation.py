import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from panoptic_nerfstudio.data.panoptic_datamanager import PanopticDataManagerConfig
from panoptic_nerfstudio.data.panoptic_dataparser import PanopticDataParserConfig
from panoptic_nerfstudio.data.panoptic_format import PanopticFormatError, read_panoptic, write_panoptic
from panoptic_nerfstudio.data.validation import validate_scene


def _first(scene: Path, folder: str = "panoptic", ext: str = ".png") -> Path:
    return sorted((scene / folder).glob(f"*{ext}"))[0]


def _break_missing_mask(scene):
    path = _first(scene)
    path.unlink()
    return path.name, "missing panoptic mask"


def _break_size(scene):
    path = _first(scene)
    frame = read_panoptic(path)
    frame.ids = frame.ids[:-2]
    write_panoptic(path, frame)
    return path.name, "size mismatch with the image"


def _break_segment_entry(scene):
    path = _first(scene)
    data = json.loads(path.with_suffix(".json").read_text())
    data["segments_info"] = data["segments_info"][1:]
    path.with_suffix(".json").write_text(json.dumps(data))
    return path.name, "no entry in"


def _break_category(scene):
    path = _first(scene, ext=".json")
    data = json.loads(path.read_text())
    data["segments_info"][0]["category_id"] = 9999
    path.write_text(json.dumps(data))
    return path.name, "unknown category 9999"


def _break_unreadable(scene):
    path = _first(scene)
    path.write_bytes(path.read_bytes()[:40])
    return path.name, "unreadable panoptic mask"


def _break_no_thing(scene):
    path = scene / "panoptic_classes.json"
    data = json.loads(path.read_text())
    for c in data["categories"]:
        c["isthing"] = False
    path.write_text(json.dumps(data))
    return "panoptic_classes.json", "no thing class at all"


BREAKS = [_break_missing_mask, _break_size, _break_segment_entry, _break_category, _break_unreadable, _break_no_thing]


def test_demo_scene_is_valid(tiny_scene_master):
    report = validate_scene(tiny_scene_master)
    assert report.ok, report.problems
    assert len(report.frames) == report.total_frames == 8
    assert report.confidence_frames == 8 and report.ground_truth_frames == 8


@pytest.mark.parametrize("breaker", BREAKS, ids=lambda b: b.__name__[7:])
def test_each_problem_is_reported_naming_the_file(tiny_scene, breaker):
    filename, problem = breaker(tiny_scene)
    report = validate_scene(tiny_scene)
    assert not report.ok
    assert any(filename in p and problem in p for p in report.problems), report.problems


@pytest.mark.parametrize("breaker", BREAKS, ids=lambda b: b.__name__[7:])
def test_training_setup_stops_with_the_same_error(tiny_scene, breaker):
    filename, problem = breaker(tiny_scene)
    config = PanopticDataManagerConfig(dataparser=PanopticDataParserConfig(data=tiny_scene, eval_mode="all"))
    with pytest.raises(PanopticFormatError, match=problem) as err:
        config.setup(device="cpu", test_mode="val")
    assert filename in str(err.value)


def test_validate_command_prints_summary_and_fails_on_problems(tiny_scene):
    ok = subprocess.run([sys.executable, "-m", "panoptic_nerfstudio.cli.main", "validate", str(tiny_scene)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    for row in ("frames", "classes", "segments per frame", "void fraction"):
        assert row in ok.stdout
    _break_category(tiny_scene)
    bad = subprocess.run([sys.executable, "-m", "panoptic_nerfstudio.cli.main", "validate", str(tiny_scene)], capture_output=True, text=True)
    assert bad.returncode == 1 and "unknown category 9999" in bad.stdout
