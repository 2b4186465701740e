"""Fuzzing whole scenes: every kind of broken frame file or scene file is named by ``ns-panoptic validate`` and stops
``ns-train`` before training, with a PanopticFormatError naming the file (see ``test_format_fuzzing``)."""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from panoptic_nerfstudio.cli.validate_command import Validate
from panoptic_nerfstudio.data.panoptic_datamanager import PanopticDataManagerConfig
from panoptic_nerfstudio.data.panoptic_dataparser import PanopticDataParserConfig
from panoptic_nerfstudio.data.panoptic_format import PanopticFormatError
from panoptic_nerfstudio.data.validation import validate_scene
from tests.data.fuzzing import (  # noqa: F401 (the autouse fixtures count the cases)
    FUZZ,
    SCENE_FUZZ,
    count_case,
    encode,
    forge_png,
    idat_span,
    record_case_count,
    report_case_counts,
)


# ----------------------------------------------------------------------------- whole scenes: validate and training

# Each breaker is certain to break the contract and returns the path fragment its problem must name. They are
# enumerated (and parametrized below) so that every kind runs in every test run; hypothesis varies the details.
Breaker = Callable[[Path, str, st.DataObject], str]


def _frame_file(scene: Path, folder: str, stem: str, ext: str = ".png") -> Tuple[Path, str]:
    return scene / folder / f"{stem}{ext}", f"/{folder}/{stem}{ext}"


def _png_breaker(folder: str, how: str) -> Breaker:
    def apply(scene: Path, stem: str, data: st.DataObject) -> str:
        path, fragment = _frame_file(scene, folder, stem)
        raw = path.read_bytes()
        with Image.open(path) as img:
            width, height = img.size
        pixels = np.full((height, width, 3), 7, dtype=np.uint8)  # same size: the format or mode is what is wrong
        if how == "truncate":
            start, length = idat_span(raw)
            path.write_bytes(raw[: data.draw(st.integers(0, start + length // 2 - 1), label="cut")])
        elif how == "giant":
            side = data.draw(st.integers(2**13 + 1, 2**20), label="side")
            path.write_bytes(forge_png(side, side, 8, 2, zlib.compress(b"\x00" * 4096)))
        elif how == "depth":
            bits = data.draw(st.sampled_from([1, 2, 4]), label="bits")
            path.write_bytes(forge_png(width, height, bits, 0, zlib.compress(b"\x00" * (width + 1) * height)))
        elif how == "format":
            fmt = data.draw(st.sampled_from(["JPEG", "BMP", "TIFF", "GIF"]), label="fmt")
            path.write_bytes(encode(pixels, None, fmt))
        elif how == "mode":
            path.write_bytes(encode(pixels, data.draw(st.sampled_from(["P", "LA", "RGBA", "L"]), label="mode"), "PNG"))
        elif how == "empty":
            path.write_bytes(b"")
        else:
            assert how == "size"
            with Image.open(path) as img:
                img.crop((0, 0, width - data.draw(st.integers(1, width - 1), label="crop"), height)).save(path)
        return fragment

    return apply


def _json_breaker(folder: str, how: str) -> Breaker:
    def apply(scene: Path, stem: str, data: st.DataObject) -> str:
        path, _ = _frame_file(scene, folder, stem, ".json")
        doc = json.loads(path.read_text())
        entries = doc["segments_info"]
        entry = data.draw(st.sampled_from(entries), label="entry")
        if how == "nan_score":
            entry["score"] = data.draw(st.sampled_from([math.nan, math.inf, -math.inf]), label="score")
        elif how == "bad_score":
            entry["score"] = data.draw(st.sampled_from([-0.5, 1.5, "0.9", None, True, [0.5]]), label="score")
        elif how == "missing_key":
            del entry[data.draw(st.sampled_from(["id", "category_id", "isthing"]), label="key")]
        elif how == "id_type":
            wrong = [str(entry["id"]), float(entry["id"]), None, True, [1]]
            entry["id"] = data.draw(st.sampled_from(wrong), label="id")
        elif how == "id_range":
            entry["id"] = data.draw(st.sampled_from([0, -5, 256**3, 2**40]), label="id")
        elif how == "duplicate_id":
            entries.append(dict(entry))
        elif how == "unknown_category":
            entry["category_id"] = data.draw(st.integers(1000, 2**40) | st.integers(-(2**40), -1), label="category")
        elif how == "category_type":
            entry["category_id"] = data.draw(
                st.sampled_from([entry["category_id"] + 0.5, str(entry["category_id"]), None, False]), label="category"
            )
        elif how == "isthing_flipped":
            entry["isthing"] = not entry["isthing"]
        elif how == "empty_segments":
            doc["segments_info"] = []
        elif how == "top_level_list":
            doc = entries
        if how == "truncated":
            text = json.dumps(doc)
            path.write_text(text[: data.draw(st.integers(0, len(text) - 1), label="cut")])
        elif how == "duplicate_key":
            path.write_text(json.dumps(doc).replace('"id":', '"id": 1, "id":', 1))
        elif how == "not_utf8":
            path.write_bytes(b"\xff\xfe" + json.dumps(doc).encode())
        else:
            path.write_text(json.dumps(doc, allow_nan=True))
        return f"/{folder}/{stem}."  # the JSON, or its PNG where an id lost its entry

    return apply


def _missing_mask(scene: Path, stem: str, data: st.DataObject) -> str:
    path, fragment = _frame_file(scene, "panoptic", stem)
    path.unlink()
    if data.draw(st.booleans(), label="json too"):
        path.with_suffix(".json").unlink()
    return fragment


def _named_but_missing(key: str) -> Breaker:
    def apply(scene: Path, stem: str, data: st.DataObject) -> str:
        meta = json.loads((scene / "transforms.json").read_text())
        frame = next(f for f in meta["frames"] if Path(f["file_path"]).stem == stem)
        frame[key] = data.draw(st.sampled_from(["elsewhere/none.png", f"panoptic/{stem}_typo.png"]), label="name")
        (scene / "transforms.json").write_text(json.dumps(meta))
        return "/" + frame[key]

    return apply


def _image_breaker(how: str) -> Breaker:
    def apply(scene: Path, stem: str, data: st.DataObject) -> str:
        path, fragment = _frame_file(scene, "images", stem)
        if how == "truncate":
            raw = path.read_bytes()
            start, length = idat_span(raw)
            path.write_bytes(raw[: data.draw(st.integers(0, start + length // 2 - 1), label="cut")])
        elif how == "giant":
            path.write_bytes(forge_png(2**15, 2**15, 8, 2, zlib.compress(b"\x00" * 4096)))
        elif how == "mode":
            mode = data.draw(st.sampled_from(["P", "LA", "I", "CMYK"]), label="mode")
            with Image.open(path) as img:
                converted = img.convert(mode)
            converted.save(path, format="PNG" if mode in ("P", "LA") else "TIFF")  # PNG cannot hold I or CMYK
        else:
            assert how == "delete"
            path.unlink()
        return fragment

    return apply


PNG_HOWS = ["truncate", "giant", "depth", "format", "mode", "empty", "size"]
JSON_HOWS = ["nan_score", "bad_score", "missing_key", "id_type", "id_range", "duplicate_id", "unknown_category",
             "category_type", "isthing_flipped", "empty_segments", "top_level_list", "truncated", "duplicate_key",
             "not_utf8"]
TRAINING_BREAKERS: Dict[str, Breaker] = {
    **{f"panoptic-png-{how}": _png_breaker("panoptic", how) for how in PNG_HOWS},
    **{f"confidence-png-{how}": _png_breaker("confidence", how) for how in PNG_HOWS},
    **{f"panoptic-json-{how}": _json_breaker("panoptic", how) for how in JSON_HOWS},
    **{f"image-{how}": _image_breaker(how) for how in ["truncate", "giant", "mode", "delete"]},
    "missing-mask": _missing_mask,
    "named-confidence-missing": _named_but_missing("confidence_file_path"),
}
FRAME_BREAKERS: Dict[str, Breaker] = {
    **TRAINING_BREAKERS,
    **{f"gt-png-{how}": _png_breaker("gt_panoptic", how) for how in PNG_HOWS},
    **{f"gt-json-{how}": _json_breaker("gt_panoptic", how) for how in JSON_HOWS},
    "named-gt-missing": _named_but_missing("gt_panoptic_file_path"),
    "named-panoptic-missing": _named_but_missing("panoptic_file_path"),
}


def break_scene(scene: Path, how: str, data: st.DataObject) -> str:
    """Break something every frame depends on: the class table or transforms.json."""
    classes = scene / "panoptic_classes.json"
    if how in ("classes-value", "classes-no-thing"):
        doc = json.loads(classes.read_text())
        if how == "classes-no-thing":
            for entry in doc["categories"]:
                entry["isthing"] = False
        else:
            entry = data.draw(st.sampled_from(doc["categories"]), label="entry")
            key = data.draw(st.sampled_from(["id", "name", "isthing", "color"]), label="key")
            value = data.draw(st.sampled_from([None, -1, [1, 2], 1.5, math.nan, {"a": 1}, "3", ""]), label="value")
            if key == "id" and value == "" or key == "name" and value == "3":
                value = None
            entry[key] = value
        classes.write_text(json.dumps(doc, allow_nan=True))
        return "/panoptic_classes.json"
    if how == "classes-truncated":
        text = classes.read_text()
        classes.write_text(text[: data.draw(st.integers(0, len(text) - 2), label="cut")])
        return "/panoptic_classes.json"
    if how == "classes-missing":
        classes.unlink()
        return "/panoptic_classes.json"
    meta = json.loads((scene / "transforms.json").read_text())
    frame = data.draw(st.sampled_from(meta["frames"]), label="frame")
    if how == "layer-type":
        key = data.draw(st.sampled_from(["panoptic_file_path", "confidence_file_path", "gt_panoptic_file_path"]))
        frame[key] = data.draw(st.sampled_from([5, [], {"a": "b"}, True, 2.5]), label="value")
    elif how == "file-path-type":
        frame["file_path"] = data.draw(st.sampled_from([None, 7, ["images/x.png"]]), label="value")
    else:
        assert how == "frames-type"
        meta["frames"] = data.draw(st.sampled_from([[], {}, None, "frames", [3]]), label="frames")
    (scene / "transforms.json").write_text(json.dumps(meta))
    return "/transforms.json"


SCENE_BREAKS = ["classes-value", "classes-no-thing", "classes-truncated", "classes-missing", "layer-type",
                "file-path-type", "frames-type"]


def _stems(scene: Path) -> List[str]:
    return [Path(f["file_path"]).stem for f in json.loads((scene / "transforms.json").read_text())["frames"]]


@contextlib.contextmanager
def scene_copy(master: Path):
    with tempfile.TemporaryDirectory() as tmp:
        scene = Path(tmp) / "scene"
        shutil.copytree(master, scene)
        yield scene


def _validate_and_check(scene: Path, expected: List[str], broken_frames: Optional[int], capsys) -> None:
    report = validate_scene(scene)
    assert not report.ok
    for fragment in expected:
        assert any(fragment in problem for problem in report.problems), (fragment, report.problems)
    if broken_frames is not None:  # nothing skipped: each frame is valid or has exactly its one problem
        assert len(report.problems) == broken_frames, report.problems
        assert len(report.frames) + broken_frames == report.total_frames
    capsys.readouterr()
    assert Validate(scene=scene).main() == 1
    printed = capsys.readouterr().out
    assert all(fragment in printed for fragment in expected) and "Traceback" not in printed


@pytest.mark.parametrize("kind", sorted(FRAME_BREAKERS))
@settings(SCENE_FUZZ)
@given(data=st.data())
def test_validate_names_every_broken_file(request, tiny_scene_master, capsys, kind, data):
    """A frame broken this way, plus up to two other frames broken in random ways: every problem is reported
    naming its file, every other frame still counts as valid, and ``ns-panoptic validate`` exits 1 printing them."""
    count_case(request)
    with scene_copy(tiny_scene_master) as scene:
        stems = data.draw(st.permutations(_stems(scene)), label="frames")
        others = data.draw(st.lists(st.sampled_from(sorted(FRAME_BREAKERS)), max_size=2), label="others")
        expected = [FRAME_BREAKERS[kind](scene, stems[0], data)]
        expected += [FRAME_BREAKERS[other](scene, stem, data) for other, stem in zip(others, stems[1:])]
        _validate_and_check(scene, expected, 1 + len(others), capsys)


@pytest.mark.parametrize("how", SCENE_BREAKS)
@settings(SCENE_FUZZ)
@given(data=st.data())
def test_validate_names_a_broken_scene_file(request, tiny_scene_master, capsys, how, data):
    count_case(request)
    with scene_copy(tiny_scene_master) as scene:
        _validate_and_check(scene, [break_scene(scene, how, data)], None, capsys)


@pytest.mark.parametrize("kind", sorted(TRAINING_BREAKERS))
@settings(FUZZ, max_examples=max(2, FUZZ.max_examples // 40))
@given(data=st.data())
def test_training_setup_stops_naming_the_broken_file(request, tiny_scene_master, kind, data):
    """The same hostile files stop ``ns-train`` before training: a PanopticFormatError naming the file."""
    count_case(request)
    with scene_copy(tiny_scene_master) as scene:
        stem = data.draw(st.sampled_from(_stems(scene)), label="frame")
        fragment = TRAINING_BREAKERS[kind](scene, stem, data)
        config = PanopticDataManagerConfig(dataparser=PanopticDataParserConfig(data=scene))
        with pytest.raises(PanopticFormatError) as err:
            config.setup(device="cpu", test_mode="val")
        assert fragment in str(err.value), (fragment, str(err.value))
