"""``ns-panoptic render dataset`` on a trained run: removal, isolation, and no edit at all (slow: trains).

The run is the session's trained room (``room_trained_config``: the lite preset on the 48-view regression room at
160 x 120, 1500 steps). Objects must be clearly present and instances must have formed: on a 16-view, 80 x 60
room the field was too poor to edit (speckled instances, semantics wrong over large areas).
"""

import gzip
import subprocess
from pathlib import Path
from typing import Dict

import numpy as np
import pytest

from tests.console_scripts import BIN, ROOM_TIMEOUT, run_tool

pytestmark = [pytest.mark.slow, pytest.mark.timeout(ROOM_TIMEOUT)]

SPLIT = "test"
"""The 12 held-out views: at 160 x 120 the 36 training views made each render a minute of the suite."""
OUTPUTS = ("raw-instance_id", "raw-class_id", "raw-accumulation", "raw-depth", "raw-expected_depth")


def render_dataset(
    config: Path, out: Path, *edits, names=OUTPUTS, tool: str = "ns-panoptic"
) -> Dict[str, Dict[str, np.ndarray]]:
    """Render the split SPLIT; {output name: {frame: array}} of what was written (raw outputs and PNGs)."""
    command = ["ns-panoptic", "render", "dataset"] if tool == "ns-panoptic" else ["ns-render", "dataset"]
    run_tool(command + ["--load-config", config, "--output-path", out, "--split", SPLIT, "--image-format", "png",
                        "--rendered-output-names", *names, *edits], timeout=1800)  # fmt: skip
    import imageio.v3 as iio

    frames: Dict[str, Dict[str, np.ndarray]] = {}
    for name in names:
        folder = out / SPLIT / name
        files = sorted(folder.rglob("*.npy.gz")) + sorted(folder.rglob("*.png"))
        assert files, f"nothing written under {folder}"
        frames[name] = {}
        for path in files:
            if path.name.endswith(".npy.gz"):
                with gzip.open(path, "rb") as f:
                    frames[name][str(path.relative_to(folder))[: -len(".npy.gz")]] = np.load(f)[..., 0]
            else:
                frames[name][str(path.relative_to(folder))[: -len(".png")]] = iio.imread(path)
    return frames


@pytest.fixture(scope="module")
def run(room_trained_config) -> Path:
    return room_trained_config


@pytest.fixture(scope="module")
def unedited(run, tmp_path_factory):
    return render_dataset(run, tmp_path_factory.mktemp("unedited"), names=OUTPUTS + ("rgb",))


def largest_instance(frames) -> int:
    """The 3D instance covering the most pixels over the frames (clearly present)."""
    ids = np.concatenate([f.round().astype(np.int64).reshape(-1) for f in frames["raw-instance_id"].values()])
    counts = np.bincount(ids)
    counts[0] = 0
    assert counts.max() > 0, "the run shows no instance at all"
    return int(counts.argmax())


def _ids(frame: np.ndarray) -> np.ndarray:
    return frame.round().astype(np.int64)


def test_no_edit_renders_bit_for_bit_what_ns_render_does(run, unedited, tmp_path):
    stock = render_dataset(run, tmp_path, names=OUTPUTS + ("rgb",), tool="ns-render")
    assert stock.keys() == unedited.keys()
    for name, frames in stock.items():
        assert frames.keys() == unedited[name].keys()
        for frame, array in frames.items():
            ours = unedited[name][frame]
            assert array.dtype == ours.dtype and np.array_equal(array, ours), (name, frame)


def test_a_removed_instance_is_in_no_frame_and_what_was_behind_it_shows(run, unedited, tmp_path):
    x = largest_instance(unedited)
    removed = render_dataset(run, tmp_path, "--remove-instances", str(x))
    was_x, behind_class, seen = 0, 0, 0
    for frame, before in unedited["raw-instance_id"].items():
        before, after = _ids(before), _ids(removed["raw-instance_id"][frame])
        assert not (after == x).any(), f"instance {x} still in frame {frame}"
        mask = before == x
        seen += int(mask.any())
        classes_before = _ids(unedited["raw-class_id"][frame])[mask]
        classes_after = _ids(removed["raw-class_id"][frame])[mask]
        if mask.any():
            x_class = np.bincount(classes_before).argmax()
            was_x += int(mask.sum())
            behind_class += int((classes_after != x_class).sum())
    assert seen > 0 and was_x > 0  # it was there before
    print(f"instance {x}: {was_x} pixels in {seen} frames; {behind_class / was_x:.0%} now show another class")
    assert behind_class / was_x > 0.5


def test_isolating_an_instance_leaves_nothing_outside_it(run, unedited, tmp_path):
    """Outside the object's unedited mask the isolated render is empty, except (1) at the mask's one-pixel rim,
    where pixels are partly the object, and (2) where the object lies behind the surface the view shows: its
    hidden parts are the object too, and isolating it reveals them (depth tells them apart). The rest: below
    2% of the pixels may keep accumulation >= 0.05 (samples the rule gives to the object in front of other
    surfaces, partly transparent: floaters and mixed pixels); the strict count is printed as well. (The bound was
    1% until the lite preset's hash table grew to 2^17 entries, 8b00845: in this test's 1500-step run on that
    commit, 2651 of 212206 pixels, 1.25%.)"""
    from scipy.ndimage import binary_dilation

    x = largest_instance(unedited)
    isolated = render_dataset(run, tmp_path, "--isolate-instances", str(x))
    strict, stray, outside_total, inside = 0, 0, 0, []
    for frame, before in unedited["raw-instance_id"].items():
        mask = _ids(before) == x
        accumulation = isolated["raw-accumulation"][frame]
        hidden = isolated["raw-expected_depth"][frame] > unedited["raw-depth"][frame] * 1.02
        outside = ~binary_dilation(mask) & ~hidden
        strict += int((accumulation[~mask] >= 0.05).sum())
        stray += int((accumulation[outside] >= 0.05).sum())
        outside_total += int(outside.sum())
        inside.append(accumulation[mask])
        assert set(np.unique(_ids(isolated["raw-instance_id"][frame])).tolist()) <= {0, x}
    inside = np.concatenate(inside)
    pixels = sum(f.size for f in unedited["raw-instance_id"].values())
    print(f"isolating {x}: accumulation >= 0.05 outside its mask at {strict} of {pixels} pixels; {stray} of "
          f"{outside_total} away from its rim and not hidden parts of it")  # fmt: skip
    assert outside_total > 0 and inside.size > 0 and float(np.median(inside)) > 0.5
    assert stray / outside_total < 0.02


def test_an_unknown_instance_is_an_error_listing_the_valid_ones(run, tmp_path):
    result = subprocess.run(
        [str(BIN / "ns-panoptic"), "render", "dataset", "--load-config", str(run), "--output-path", str(tmp_path),
         "--remove-instances", "999"],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    text = " ".join(result.stdout.split())
    assert "--remove-instances: no 3D instance 999 in this run; valid ids:" in text
    assert not list(tmp_path.rglob("*.npy.gz"))
