"""``ns-panoptic segment --shard K/N``: shards split the frames, their outputs together are a single run's, and
the scene is validated only once every frame has masks."""

import json
import shutil
import sys

import numpy as np
import pytest

import panoptic_nerfstudio.cli.segment_command as segment_command
from panoptic_nerfstudio.cli.main import entrypoint
from panoptic_nerfstudio.cli.segment_command import Segment
from panoptic_nerfstudio.data.panoptic_format import read_confidence, read_panoptic
from panoptic_nerfstudio.data.validation import validate_scene
from panoptic_nerfstudio.segmentation.frame_shards import FrameShard, parse_shard
from panoptic_nerfstudio.segmentation.scene_frames import scene_frame_targets

OPTIONS = dict(device="cpu", tta=True, tta_scales=(0.75, 1.0), object_threshold=0.5, label_map="indoor21")


def output_bytes(scene):
    _, targets = scene_frame_targets(scene)
    files = [p for t in targets for p in (t.panoptic, t.panoptic.with_suffix(".json"), t.confidence)]
    files.append(scene / "panoptic_classes.json")
    return {p.relative_to(scene): p.read_bytes() for p in files if p.exists()}


def assert_same_masks(scene, other):
    """Equal ids, segments and classes; scores and confidence equal up to float rounding (a batch of two
    images is not summed in the same order as one image alone, so the last bits may differ)."""
    _, targets = scene_frame_targets(scene)
    _, others = scene_frame_targets(other)
    assert (scene / "panoptic_classes.json").read_bytes() == (other / "panoptic_classes.json").read_bytes()
    for target, twin in zip(targets, others):
        frame, twin_frame = read_panoptic(target.panoptic), read_panoptic(twin.panoptic)
        np.testing.assert_array_equal(frame.ids, twin_frame.ids)
        infos = json.loads(target.panoptic.with_suffix(".json").read_text())["segments_info"]
        twin_infos = json.loads(twin.panoptic.with_suffix(".json").read_text())["segments_info"]
        assert [{**i, "score": 0} for i in infos] == [{**i, "score": 0} for i in twin_infos]
        np.testing.assert_allclose([i["score"] for i in infos], [i["score"] for i in twin_infos], atol=1e-6)
        confidence, twin_confidence = read_confidence(target.confidence), read_confidence(twin.confidence)
        assert np.abs(confidence - twin_confidence).max() <= 1.5 / 65535


@pytest.fixture
def validations(monkeypatch):
    """Scenes the command validated."""
    seen = []
    validate = segment_command.validate_scene

    def recording(scene_dir):
        seen.append(scene_dir)
        return validate(scene_dir)

    monkeypatch.setattr(segment_command, "validate_scene", recording)
    return seen


def test_parse_shard():
    assert parse_shard(None) == FrameShard(0, 1) and parse_shard(None).whole
    assert parse_shard("2/5") == FrameShard(2, 5)
    assert parse_shard(" 0 / 3 ") == FrameShard(0, 3)
    assert FrameShard(1, 3).select(list(range(8))) == [1, 4, 7]
    shards = [FrameShard(k, 3).select(list(range(8))) for k in range(3)]
    assert sorted(sum(shards, [])) == list(range(8))


@pytest.mark.parametrize("text", ["3/3", "5/2", "1/0", "-1/2", "1", "a/b", "1/2/3", "1.5/2", ""])
def test_bad_shards_are_refused(text):
    with pytest.raises(ValueError, match="--shard"):
        parse_shard(text)


def test_a_bad_shard_fails_before_anything_is_written(raw_scene, mixed_model, monkeypatch, capsys):
    monkeypatch.setattr(Segment, "build_backend", lambda self, device: pytest.fail("model loaded"))
    argv = ["ns-panoptic", "segment", "--data", str(raw_scene), "--model", str(mixed_model), "--shard", "2/2"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_code:
        entrypoint()
    assert exit_code.value.code == 1
    out = capsys.readouterr().out
    assert "--shard 2/2" in out and "below N" in out
    assert not (raw_scene / "panoptic").exists() and not (raw_scene / "panoptic_classes.json").exists()


@pytest.mark.parametrize("batch_size", [1, 2])
def test_shards_together_equal_a_single_run(raw_scene, mixed_model, tmp_path, validations, capsys, batch_size):
    sharded = tmp_path / "sharded"
    shutil.copytree(raw_scene, sharded)
    _, targets = scene_frame_targets(raw_scene)
    assert len(targets) == 3  # in batches of 2 a single run batches frames (0, 1), (2); shard 0/2 (0, 2)

    assert Segment(data=raw_scene, model=str(mixed_model), batch_size=batch_size, **OPTIONS).main() == 0
    assert validations == [raw_scene]
    single = output_bytes(raw_scene)
    assert len(single) == 3 * 3 + 1

    capsys.readouterr()
    assert Segment(data=sharded, model=str(mixed_model), batch_size=batch_size, shard="0/2", **OPTIONS).main() == 0
    out = capsys.readouterr().out
    assert "Shard 0/2: 2 of the scene's 3 frame(s)" in out
    assert "1 of 3 frame(s)" in out and "no masks yet" in out
    assert validations == [raw_scene], "validated a scene with frames still missing"
    _, sharded_targets = scene_frame_targets(sharded)
    assert [t.done for t in sharded_targets] == [True, False, True]

    assert Segment(data=sharded, model=str(mixed_model), batch_size=batch_size, shard="1/2", **OPTIONS).main() == 0
    assert "valid panoptic scene" in capsys.readouterr().out
    assert validations == [raw_scene, sharded]
    assert validate_scene(sharded).ok

    if batch_size == 1:
        assert output_bytes(sharded) == single
    else:
        assert_same_masks(sharded, raw_scene)


def test_a_finished_shard_loads_no_model(raw_scene, mixed_model, monkeypatch, capsys):
    assert Segment(data=raw_scene, model=str(mixed_model), shard="1/3", **OPTIONS).main() == 0
    monkeypatch.setattr(Segment, "build_backend", lambda self, device: pytest.fail("model loaded"))
    capsys.readouterr()
    assert Segment(data=raw_scene, model=str(mixed_model), shard="1/3", **OPTIONS).main() == 0
    assert "every frame of shard 1/3" in capsys.readouterr().out
