"""``ns-panoptic segment`` end to end on a scene without masks, with tiny Mask2Formers from disk."""

import sys
from pathlib import Path

import numpy as np
import pytest

from panoptic_nerfstudio.cli.main import entrypoint
from panoptic_nerfstudio.cli.segment_command import Segment
from panoptic_nerfstudio.cli.validate_command import Validate
from panoptic_nerfstudio.data.panoptic_format import read_classes, read_confidence, read_panoptic
from panoptic_nerfstudio.data.validation import validate_scene
from panoptic_nerfstudio.segmentation.label_map import load_label_map
from panoptic_nerfstudio.segmentation.scene_frames import scene_frame_targets

FAST = dict(device="cpu", tta=False, object_threshold=0.5)


def outputs_of(scene: Path):
    _, targets = scene_frame_targets(scene)
    return targets, [p for t in targets for p in (t.panoptic, t.panoptic.with_suffix(".json"), t.confidence)]


def mtimes(paths):
    return {p: p.stat().st_mtime_ns for p in paths}


@pytest.fixture
def count_images(monkeypatch):
    """Counts the images each backend call sees (every view of every batch)."""
    seen = []
    build = Segment.build_backend

    def counting(self, device):
        backend = build(self, device)
        run = backend.run

        def counted(images, view, panoptic):
            seen.append((len(images), view))
            return run(images, view, panoptic)

        backend.run = counted
        return backend

    monkeypatch.setattr(Segment, "build_backend", counting)
    return seen


def test_segment_writes_a_valid_scene_with_tta(raw_scene, mixed_model, count_images):
    command = Segment(data=raw_scene, model=str(mixed_model), label_map="indoor21", batch_size=2, **{**FAST, "tta": True})
    assert command.main() == 0
    targets, files = outputs_of(raw_scene)
    assert all(p.exists() for p in files)
    assert not list(raw_scene.rglob(".*partial*"))
    assert read_classes(raw_scene / "panoptic_classes.json") == load_label_map("indoor21").classes
    report = validate_scene(raw_scene)
    assert report.ok, report.problems
    assert len(report.frames) == len(targets) == report.confidence_frames
    assert Validate(raw_scene).main() == 0
    for target in targets:
        frame = read_panoptic(target.panoptic)
        confidence = read_confidence(target.confidence)
        assert confidence.shape == frame.ids.shape
        assert np.all(confidence[frame.ids == 0] == 0)
        assert np.all((confidence[frame.ids != 0] > 0) & (confidence[frame.ids != 0] <= 1))
    # 3 frames in batches of 2, six views each (scales 0.75, 1, 1.25 x flip)
    assert [n for n, _ in count_images] == [2] * 6 + [1] * 6
    assert len({view for _, view in count_images}) == 6


def test_resume_redoes_only_unfinished_frames(raw_scene, mixed_model, count_images):
    assert Segment(data=raw_scene, model=str(mixed_model), label_map="indoor21", **FAST).main() == 0
    targets, files = outputs_of(raw_scene)
    before = mtimes(files)
    # an interrupted run: the last frame's PNG never made it, a temporary file was left behind
    targets[1].panoptic.unlink()
    stray = targets[1].panoptic.with_name(f".{targets[1].panoptic.stem}.partial.png")
    stray.write_bytes(b"half a png")
    count_images.clear()
    assert Segment(data=raw_scene, model=str(mixed_model), label_map="indoor21", **FAST).main() == 0
    assert [n for n, _ in count_images] == [1]
    after = mtimes(files)
    redone = targets[1].panoptic.stem
    assert all(after[p] == before[p] for p in files if p.stem != redone), "a finished frame was rewritten"
    assert all(after[p] > before[p] for p in files if p.stem == redone)
    assert not list(raw_scene.rglob(".*partial*"))
    assert validate_scene(raw_scene).ok


def test_finished_scene_loads_no_model(raw_scene, mixed_model, monkeypatch):
    assert Segment(data=raw_scene, model=str(mixed_model), label_map="indoor21", **FAST).main() == 0
    monkeypatch.setattr(Segment, "build_backend", lambda self, device: pytest.fail("model loaded"))
    assert Segment(data=raw_scene, model=str(mixed_model), label_map="indoor21", **FAST).main() == 0


def test_another_label_map_needs_overwrite(raw_scene, mixed_model, capsys):
    assert Segment(data=raw_scene, model=str(mixed_model), label_map="indoor21", **FAST).main() == 0
    _, files = outputs_of(raw_scene)
    before = mtimes(files)
    capsys.readouterr()
    assert Segment(data=raw_scene, model=str(mixed_model), label_map="coco133", **FAST).main() == 1
    out = capsys.readouterr().out
    assert "panoptic_classes.json" in out and "--overwrite" in out
    assert mtimes(files) == before
    assert Segment(data=raw_scene, model=str(mixed_model), label_map="coco133", overwrite=True, **FAST).main() == 0
    assert all(after > before[p] for p, after in mtimes(files).items())
    assert len(read_classes(raw_scene / "panoptic_classes.json")) == 133
    assert validate_scene(raw_scene).ok


def test_missing_weights_fail_fast_and_write_nothing(raw_scene, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    command = Segment(data=raw_scene, model="panoptic-nerfstudio-tests/no-such-mask2former", **FAST)
    assert command.main() == 1
    out = capsys.readouterr().out
    assert "not in the Hugging Face cache" in out and "--model" in out
    assert not (raw_scene / "panoptic").exists() and not (raw_scene / "panoptic_classes.json").exists()


def test_detectron2_backend_without_detectron2_explains_the_install(raw_scene, tmp_path, capsys):
    if _installed("detectron2"):
        pytest.skip("detectron2 is installed")
    config = tmp_path / "m2f.yaml"
    config.write_text("MODEL: {}\n")
    assert Segment(data=raw_scene, backend="detectron2", model=str(config), **FAST).main() == 1
    assert "facebookresearch/detectron2" in capsys.readouterr().out


def _installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_ns_panoptic_segment_entry_point(raw_scene, mixed_model, monkeypatch, capsys):
    """The installed ``ns-panoptic`` entry point parses the documented flags (in-process: no second interpreter)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv = ["ns-panoptic", "segment", "--data", str(raw_scene), "--model", str(mixed_model), "--no-tta",
            "--label-map", "indoor21", "--unmapped", "void", "--device", "cpu", "--batch-size", "3",
            "--object-threshold", "0.5"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_code:
        entrypoint()
    assert exit_code.value.code == 0, capsys.readouterr().out
    assert "valid panoptic scene" in capsys.readouterr().out
    assert validate_scene(raw_scene).ok
