"""Both instance heads end to end (``ns-train`` + ``ns-panoptic eval``) on a scene with more thing objects than the
slot head has slots: the slot head cannot give more distinct 3D ids than K, the contrastive head can.

The demo room at 96 x 72 (48 views, 11 thing objects), 400 steps of the lite preset (instance losses from step 150),
K = 4 slots and no spatial split of slots or clusters, so that every 3D id is a slot or a cluster. About two minutes
per head on two CPU cores."""

import json
from pathlib import Path
from typing import Dict, Set

import pytest

from panoptic_nerfstudio.demo_scene import DemoSceneConfig, write_demo_scene
from tests.console_scripts import run_tool

K = 4
SCENE = DemoSceneConfig(seed=0, width=96, height=72)


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("heads") / "scene"
    write_demo_scene(out, SCENE)
    return out


def _train_and_evaluate(scene: Path, out: Path, *head_args: str) -> Path:
    run_tool(
        [
            "ns-train", "panoptic-lifting-lite", "--data", scene, "--output-dir", out, "--experiment-name", "e",
            "--timestamp", "t", "--max-num-iterations", "400", "--steps-per-save", "400",
            "--viewer.quit-on-train-completion", "True", "--pipeline.model.instance-loss-start-step", "150",
            "--pipeline.model.consistency-loss-start-step", "300", "--pipeline.model.split-slots", "False",
            "--pipeline.model.num-instance-slots", str(K), *head_args,
        ]
    )  # fmt: skip
    config = out / "e" / "panoptic-lifting-lite" / "t" / "config.yml"
    run_tool(["ns-panoptic", "eval", "--load-config", config, "--output-dir", out / "eval"])
    return out / "eval"


@pytest.fixture(scope="module")
def slot_eval(scene, tmp_path_factory) -> Path:
    return _train_and_evaluate(scene, tmp_path_factory.mktemp("slots"))


@pytest.fixture(scope="module")
def contrastive_eval(scene, tmp_path_factory) -> Path:
    return _train_and_evaluate(scene, tmp_path_factory.mktemp("contrastive"), "--pipeline.model.instance-head",
                               "contrastive")  # fmt: skip


def _thing_ids(eval_dir: Path) -> Set[int]:
    """3D instance ids of the thing segments in the predictions of all evaluation frames."""
    ids: Set[int] = set()
    for info in (eval_dir / "pred").glob("*.json"):
        ids |= {s["id"] for s in json.loads(info.read_text())["segments_info"] if s["isthing"]}
    return ids


def _metrics(eval_dir: Path) -> Dict:
    return json.loads((eval_dir / "metrics.json").read_text())


@pytest.mark.slow
def test_the_slot_head_gives_at_most_k_ids(slot_eval):
    metrics = _metrics(slot_eval)
    assert metrics["instance_head"] == "slots" and metrics["instance_head_summary"] == f"slots (K={K})"
    assert metrics["objects"] == 11
    assert 0 < len(_thing_ids(slot_eval)) <= K
    assert metrics["merges"] >= metrics["objects"] - K  # pigeonhole: most objects share an id
    missed = [entry for entry in metrics["unmatched"] if entry["side"] == "missed"]
    assert len(missed) >= metrics["objects"] - K  # K ids match K objects at most
    causes = ("lost_to_stuff", "partly_labelled", "merged", "wrong_class")
    assert len(missed) == sum(metrics[f"missed_{cause}"] for cause in causes)


@pytest.mark.slow
def test_the_contrastive_head_passes_the_slot_limit(contrastive_eval, slot_eval):
    metrics, slots = _metrics(contrastive_eval), _metrics(slot_eval)
    assert metrics["instance_head"] == "contrastive" and "clusters" in metrics["instance_head_summary"]
    assert len(_thing_ids(contrastive_eval)) > K
    assert metrics["merges"] < slots["merges"]
    assert metrics["lifted_pq_things"] > slots["lifted_pq_things"]
