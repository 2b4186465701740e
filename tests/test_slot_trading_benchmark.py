"""``benchmarks/slot_trading.py`` counts, per pair of same-class objects, how often one's segment got the other's
slot, by whether the other was drawn, visible without a segment, or out of view; and it records the assignments a
model makes."""

import numpy as np
import pytest
import torch

from tests.benchmark_scripts import benchmark_module


@pytest.fixture(scope="module")
def trading():
    yield from benchmark_module("slot_trading")


def _frame(objects, trading, frame, drawn_ids, gt_left, gt_right):
    """A 10 x 20 frame: chair 1 on the left half, chair 2 on the right (ground truth where ``gt_*``); the input
    draws segment ids ``drawn_ids`` over (left, right) halves; segment rows are frame * 10 + segment id."""
    gt = np.zeros((10, 20), dtype=np.int64)
    gt[:, :10] = 1 if gt_left else 0
    gt[:, 10:] = 2 if gt_right else 0
    ids = np.zeros((10, 20), dtype=np.int64)
    ids[:, :10], ids[:, 10:] = drawn_ids
    rows = [(frame * 10 + s, s) for s in sorted(set(drawn_ids)) if s > 0]
    trading.add_frame(objects, frame, rows, ids, gt, {1: "chair 1", 2: "chair 2"})


def test_a_segment_given_its_neighbours_slot_is_counted_by_how_the_neighbour_was_drawn(trading):
    objects = trading.SegmentObjects()
    _frame(objects, trading, 0, (1, 2), True, True)  # both drawn apart
    _frame(objects, trading, 1, (0, 2), True, True)  # chair 1 visible, no segment of its own
    _frame(objects, trading, 2, (0, 2), False, True)  # chair 1 out of view
    _frame(objects, trading, 3, (1, 2), True, True)
    assert objects.drawn[0] == {"chair 1", "chair 2"} and objects.drawn[1] == {"chair 2"}
    assert objects.visible[1] == {"chair 1", "chair 2"} and objects.visible[2] == {"chair 2"}
    # Six calls; 4 and 5 are the last third. There chair 1 keeps slot 7 and chair 2 gets it where chair 1 is not
    # drawn apart; earlier calls give other slots and are not counted.
    calls = [[0, 1, 0], [0, 2, 5], [1, 1, 3], [2, 12, 3], [3, 22, 3],
             [4, 1, 7], [4, 2, 5], [4, 12, 7], [5, 22, 7], [5, 1, 7], [5, 2, 5], [5, 31, 7], [5, 32, 5]]  # fmt: skip
    counts = trading.trading_counts(np.array(calls), objects)
    two_gets_ones = counts[("chair 2", "chair 1")]
    assert two_gets_ones[("own segment", True)] == 0 and two_gets_ones[("own segment", False)] == 3
    assert two_gets_ones[("visible, no segment", True)] == 1
    assert two_gets_ones[("not visible", True)] == 1
    assert sum(counts[("chair 1", "chair 2")][(k, True)] for k in trading.KINDS) == 0
    table = trading.trading_table(counts)
    assert table.row_count == 1  # only pairs where a slot changed hands


def test_the_recorder_keeps_every_assignment_and_restores_the_solver(trading, tmp_path):
    from panoptic_nerfstudio.model_components import instance_assignment

    solver = instance_assignment.assign_slots
    probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9]])
    segment, frame, instance = torch.tensor([4, 4, 6]), torch.zeros(3, dtype=torch.long), torch.tensor([0, 0, 1])
    with trading.recorded_assignments(tmp_path / "record.npy"):
        instance_assignment.instance_loss(probs, segment, frame, instance, torch.ones(3))
        instance_assignment.instance_loss(probs, segment, frame, instance, torch.ones(3))
    assert instance_assignment.assign_slots is solver
    record = np.load(tmp_path / "record.npy")
    assert record.tolist() == [[0, 4, 0], [0, 6, 1], [1, 4, 0], [1, 6, 1]]


def test_a_variants_flags_reach_ns_train_after_the_presets(trading, tmp_path, monkeypatch):
    import sys

    import nerfstudio.scripts.train as ns_train

    seen = []
    monkeypatch.setattr(ns_train, "entrypoint", lambda: seen.append(list(sys.argv)))
    argv = sys.argv
    (tmp_path / "out").mkdir()
    trading.train(tmp_path / "scene", tmp_path / "out", 7, None, ["--pipeline.model.consistency-loss-mult", "0"])
    assert sys.argv is argv
    assert seen[0][:2] == ["ns-train", "panoptic-lifting-lite"]
    assert seen[0][-2:] == ["--pipeline.model.consistency-loss-mult", "0"]
    assert seen[0][seen[0].index("--machine.seed") + 1] == "7"
    assert (tmp_path / "out" / "assignments.npy").exists()  # the recorder saved (nothing) on exit
