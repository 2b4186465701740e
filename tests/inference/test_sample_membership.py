"""Per-sample labels are the one rule with the run's table, applied to each sample on its own."""

import torch

from panoptic_nerfstudio.inference.panoptic_rule import DROP_INSTANCE, KEEP_CLASS, InstanceTable, infer_panoptic
from panoptic_nerfstudio.inference.sample_membership import NO_OBJECT, members, sample_labels

THINGS = torch.tensor([False, False, True])  # wall, floor, chair
WALL, FLOOR, CHAIR = 0, 1, 2


def _logits(indices, size):
    return torch.nn.functional.one_hot(torch.tensor(indices), size).float() * 10.0


def _split_table():
    """Slot 0 split into two parts: id 1 around x = -1, id 3 around x = +1; slot 1 is id 2 (dropped)."""
    return InstanceTable(
        classes=torch.tensor([KEEP_CLASS, CHAIR, DROP_INSTANCE, CHAIR]),
        slots=torch.tensor([-1, 0, 1, 0]),
        points=torch.tensor([[-1.0, 0.0, 0.0], [-1.1, 0.0, 0.0], [1.0, 0.0, 0.0]]),
        point_ids=torch.tensor([1, 1, 3]),
    )


def test_each_sample_takes_the_part_nearest_its_own_position_and_the_tables_class():
    # one ray of 5 samples: chair/slot 0 at x=-0.9, chair/slot 0 at x=1.2, wall, floor/slot 0, chair/slot 1 (dropped)
    semantic = _logits([CHAIR, CHAIR, WALL, FLOOR, CHAIR], 3)[None]
    instance = _logits([0, 0, 0, 0, 1], 2)[None]
    positions = torch.tensor([[[-0.9, 0, 0], [1.2, 0, 0], [0, 0, 0], [-1.0, 0, 0], [1.0, 0, 0]]])
    labels = sample_labels(semantic, instance, THINGS, _split_table(), positions)
    assert labels.instance.tolist() == [[1, 3, 0, 0, 0]]
    assert labels.semantics.tolist() == [[CHAIR, CHAIR, WALL, FLOOR, WALL]]  # the dropped one: its best stuff class
    assert labels.instance.shape == positions.shape[:-1]


def test_sample_labels_are_infer_panoptic_on_each_samples_softmax():
    g = torch.Generator().manual_seed(0)
    semantic, instance = torch.randn(4, 6, 3, generator=g), torch.randn(4, 6, 2, generator=g)
    positions = torch.randn(4, 6, 3, generator=g)
    table = _split_table()
    labels = sample_labels(semantic, instance, THINGS, table, positions)
    for ray in range(4):
        for sample in range(6):
            one = infer_panoptic(
                semantic[ray, sample].softmax(-1)[None], instance[ray, sample].softmax(-1)[None], THINGS, table,
                positions[ray, sample][None],
            )  # fmt: skip
            assert int(one.instance[0]) == int(labels.instance[ray, sample])
            assert int(one.semantics[0]) == int(labels.semantics[ray, sample])


def test_without_a_table_instances_are_slots():
    labels = sample_labels(_logits([CHAIR, WALL], 3), _logits([1, 1], 2), THINGS, None, torch.zeros(2, 3))
    assert labels.instance.tolist() == [2, 0]


def test_members_by_instance_and_by_class():
    semantic = _logits([CHAIR, CHAIR, WALL, FLOOR], 3)
    instance = _logits([0, 0, 0, 0], 2)
    positions = torch.tensor([[-1.0, 0, 0], [1.0, 0, 0], [0, 0, 0], [0, 0, 0]])
    labels = sample_labels(semantic, instance, THINGS, _split_table(), positions)
    assert members(labels, [3]).tolist() == [False, True, False, False]
    assert members(labels, [1, 3]).tolist() == [True, True, False, False]
    assert members(labels, classes=[WALL]).tolist() == [False, False, True, False]
    assert members(labels, [1], [FLOOR]).tolist() == [True, False, False, True]
    assert members(labels, [0]).tolist() == [False] * 4  # id 0 is stuff, never an object
    assert members(labels).tolist() == [False] * 4


def test_a_sample_beyond_its_instances_reach_is_part_of_no_object():
    """A floater near a camera that reads as the chair metres away is not the chair: no edit selects it."""
    table = _split_table()
    table.reach = torch.tensor([float("inf"), 0.5, float("inf"), 0.5])
    semantic = _logits([CHAIR, CHAIR, WALL, CHAIR], 3)[None]
    instance = _logits([0, 0, 0, 0], 2)[None]
    positions = torch.tensor([[[-1.3, 0, 0], [-3.0, 0, 0], [-3.0, 0, 0], [1.4, 0, 0]]])  # near 1, far, wall, near 3
    labels = sample_labels(semantic, instance, THINGS, table, positions)
    assert labels.instance.tolist() == [[1, 0, 0, 3]]
    assert labels.semantics.tolist() == [[CHAIR, NO_OBJECT, WALL, CHAIR]]
    assert members(labels, [1, 3], [CHAIR]).tolist() == [[True, False, False, True]]
