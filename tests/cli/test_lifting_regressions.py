"""The failures lifting showed on rooms it was not tuned on, in one small room (``--layout checks``; slow: trains).

``ns-train`` on the ``checks`` room (the session's shared run, ``room_trained_config``), then ``ns-panoptic eval``
renders its held-out frames; in those frames
- two cupboards standing side by side, touching, must end with different 3D ids;
- a picture frame and a bin on the two faces of a counter, which no view shows together, must end with different
  3D ids and keep their own classes (a slot that covers both must not hand one of them the other's class);
- a floor-to-ceiling pole must keep at least 70% of its pixels.
Everything is read from the scene's ground truth (which segment is which object) and the predictions' scene-wide
3D ids, never from the run's internals.

The pole failed until the preset drew 1536 rays per step, not 1024: with the backbone's 2^15 hash table its surface
was reconstructed (rendered depth at its pixels about 1.6 units against 3-5 beside it) and the input labels it pole in
most views, yet the semantic head gave its surface wall 0.7-0.8 and pole 0.15-0.2, in training views too (0% kept).
With the 2^17 table it kept 66% (aa4c931) and 67% (7143a96): the class head's own argmax labelled 77% of its held-out
pixels pole, and the edge-aware refinement, rule 6 and the speckle clean-up took it under the line
(docs/results_log.md, "Thin objects after the class head"). With 1536 rays per step it keeps 74% (346 of 467 pixels).
"""

import json
from collections import Counter
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest
import yaml

from panoptic_nerfstudio.demo_scene.classes import BIN, CUPBOARD, FRAME, POLE
from tests.console_scripts import ROOM_TIMEOUT, run_tool

pytestmark = [pytest.mark.slow, pytest.mark.timeout(ROOM_TIMEOUT)]

HIDDEN_BIN, LEFT, RIGHT = BIN * 1000 + 1, CUPBOARD * 1000 + 1, CUPBOARD * 1000 + 2
"""Ground-truth ids (class * 1000 + the instance's number in the layout's order)."""
PICTURE, THE_POLE = FRAME * 1000 + 1, POLE * 1000 + 1


def read_frame(png: Path) -> Tuple[np.ndarray, Dict[int, int]]:
    """Segment id per pixel and the category of each segment id."""
    import imageio.v3 as iio

    rgb = iio.imread(png).astype(np.int64)
    info = json.loads(png.with_suffix(".json").read_text())["segments_info"]
    return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2], {s["id"]: s["category_id"] for s in info}


@pytest.fixture(scope="module")
def evaluated(room_trained_config, tmp_path_factory) -> Tuple[Path, Path]:
    """(scene, predictions of its held-out frames) of the session's 1500-step run on this room (``tests/conftest.py``,
    shared with the scene-editing and label-transfer tests)."""
    out = tmp_path_factory.mktemp("eval_room")
    run_tool(["ns-panoptic", "eval", "--load-config", room_trained_config, "--output-dir", out], timeout=1800)
    scene = Path(yaml.load(room_trained_config.read_text(), Loader=yaml.Loader).pipeline.datamanager.data)  # --data
    return scene, out / "pred"


def object_pixels(scene: Path, pred: Path, gt_id: int) -> List[Tuple[np.ndarray, Dict[int, int]]]:
    """Per held-out frame showing the object: the predicted segment ids on its pixels, and their categories."""
    found = []
    for png in sorted(pred.glob("*.png")):
        gt, _ = read_frame(scene / "gt_panoptic" / png.name)
        predicted, categories = read_frame(png)
        if (gt == gt_id).any():
            found.append((predicted[gt == gt_id], categories))
    assert found, f"no held-out frame shows object {gt_id}: the scene no longer tests it"
    return found


def majority(scene: Path, pred: Path, gt_id: int) -> Tuple[int, int]:
    """(3D id, category) most of the object's pixels get over all held-out frames."""
    votes: Counter = Counter()
    for ids, categories in object_pixels(scene, pred, gt_id):
        votes.update((int(i), categories.get(int(i), -1)) for i in ids)
    return votes.most_common(1)[0][0]


def test_touching_cupboards_end_with_different_3d_ids(evaluated):
    scene, pred = evaluated
    left, right = majority(scene, pred, LEFT), majority(scene, pred, RIGHT)
    assert left[1] == right[1] == CUPBOARD, f"the touching cupboards were labelled {left} and {right}"
    assert left[0] != right[0], f"both touching cupboards are 3D instance {left[0]}"


def test_a_never_co_visible_pair_keeps_two_ids_and_its_own_classes(evaluated):
    scene, pred = evaluated
    for frame in scene.joinpath("gt_panoptic").glob("*.png"):
        gt, _ = read_frame(frame)
        assert not ((gt == PICTURE).any() and (gt == HIDDEN_BIN).any()), f"{frame.name} shows both"
    picture, hidden = majority(scene, pred, PICTURE), majority(scene, pred, HIDDEN_BIN)
    assert picture[1] == FRAME and hidden[1] == BIN, f"picture labelled {picture}, hidden bin {hidden}"
    assert picture[0] != hidden[0], f"the picture and the bin behind the counter share 3D instance {picture[0]}"


def test_a_thin_pole_keeps_most_of_its_pixels(evaluated):
    scene, pred = evaluated
    seen = object_pixels(scene, pred, THE_POLE)
    kept = sum(int(np.isin(ids, [i for i, c in categories.items() if c == POLE]).sum()) for ids, categories in seen)
    total = sum(len(ids) for ids, _ in seen)
    print(f"the pole kept {kept} of its {total} held-out pixels ({kept / total:.0%})")  # the README's figure (-rP)
    assert kept >= 0.7 * total, f"the pole kept {kept} of its {total} pixels ({kept / total:.0%})"
