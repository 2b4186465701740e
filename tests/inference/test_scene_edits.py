"""Scene edits: which samples they keep, how they tint, and how they are checked against a run."""

import pytest
import torch

from panoptic_nerfstudio.data.panoptic_format import Category, ClassTable
from panoptic_nerfstudio.inference.panoptic_rule import DROP_INSTANCE, KEEP_CLASS, InstanceTable, PanopticPrediction
from panoptic_nerfstudio.inference.scene_edits import (
    SceneEditError,
    SceneEdits,
    editable_instances,
    kept_samples,
    parse_recolor,
    remaining_labels,
    resolve_edits,
    tinted_colors,
)

CLASSES = ClassTable(
    [
        Category(1, "wall", False, (1, 1, 1)),
        Category(2, "floor", False, (2, 2, 2)),
        Category(5, "chair", True, (3, 3, 3)),
    ]
)
WALL, FLOOR, CHAIR = 0, 1, 2
# ids: 1 chair, 2 dropped, 3 never seen, 4 chair
TABLE = InstanceTable(
    classes=torch.tensor([KEEP_CLASS, CHAIR, DROP_INSTANCE, KEEP_CLASS, CHAIR]),
    slots=torch.arange(-1, 4),
    points=torch.zeros(0, 3),
    point_ids=torch.zeros(0, dtype=torch.long),
)


def _labels(instance, semantics):
    instance, semantics = torch.tensor(instance), torch.tensor(semantics)
    zeros = torch.zeros(instance.shape)
    return PanopticPrediction(semantics, instance, zeros, torch.zeros_like(instance), zeros)


LABELS = _labels([1, 4, 0, 0], [CHAIR, CHAIR, WALL, FLOOR])


def test_remove_drops_the_samples_of_the_instances_and_classes():
    assert kept_samples(SceneEdits(remove_instances=(1,)), LABELS).tolist() == [False, True, True, True]
    assert kept_samples(SceneEdits(remove_classes=(CHAIR,)), LABELS).tolist() == [False, False, True, True]
    assert kept_samples(SceneEdits(remove_classes=(WALL,)), LABELS).tolist() == [True, True, False, True]
    assert kept_samples(SceneEdits(), LABELS).tolist() == [True] * 4


def test_isolate_keeps_only_the_isolated_and_remove_still_applies():
    assert kept_samples(SceneEdits(isolate_instances=(4,)), LABELS).tolist() == [False, True, False, False]
    assert kept_samples(SceneEdits(isolate_classes=(CHAIR, FLOOR)), LABELS).tolist() == [True, True, False, True]
    both = SceneEdits(isolate_classes=(CHAIR,), remove_instances=(1,))
    assert kept_samples(both, LABELS).tolist() == [False, True, False, False]


def test_recolor_tints_only_that_instance_and_keeps_shading():
    rgb = torch.tensor([[0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [0.2, 0.2, 0.2], [0.9, 0.9, 0.9]])
    out = tinted_colors(SceneEdits(recolor=((4, (1.0, 0.0, 0.0)),)), LABELS, rgb)
    assert torch.equal(out[[0, 2, 3]], rgb[[0, 2, 3]])
    assert torch.allclose(out[1], torch.tensor([1.0, 0.0, 0.0]))  # mid-grey takes exactly the tint
    darker = tinted_colors(SceneEdits(recolor=((1, (1.0, 0.0, 0.0)),)), LABELS, rgb * 0.5)[0]
    assert 0 < darker[0] < 1.0 and darker[1] == 0  # a darker surface stays darker, in the tint's hue


def test_activity_and_description():
    assert not SceneEdits().active and not SceneEdits(background=(1.0, 1.0, 1.0)).active
    edits = SceneEdits(remove_instances=(1,), isolate_classes=(CHAIR,), recolor=((4, (0.0, 0.0, 1.0)),))
    assert edits.active and edits.isolating
    assert edits.describe(CLASSES) == "removed #1; isolated chair; recolored #4"


def test_editable_ids_are_those_the_table_gives_a_class():
    assert editable_instances(TABLE) == [1, 4]
    assert editable_instances(InstanceTable.unknown(3)) == [1, 2, 3]  # a run never calibrated: every slot


def test_resolving_edits_checks_ids_and_names():
    edits = resolve_edits(
        TABLE, CLASSES, remove_instances=[4, 4], remove_classes=["wall"], isolate_classes=["chair"],
        recolor_instances=["1=#FF8000"], background=(1.0, 1.0, 1.0),
    )  # fmt: skip
    assert edits.remove_instances == (4,) and edits.remove_classes == (WALL,) and edits.isolate_classes == (CHAIR,)
    assert edits.recolor == ((1, (1.0, 128 / 255, 0.0)),) and edits.background == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("option", ["remove_instances", "isolate_instances"])
@pytest.mark.parametrize("bad", [2, 3, 9, 0])  # dropped, never seen, out of range, stuff
def test_an_unknown_id_is_an_error_listing_the_valid_ones(option, bad):
    with pytest.raises(SceneEditError) as error:
        resolve_edits(TABLE, CLASSES, **{option: [1, bad]})
    message = str(error.value)
    assert f"--{option.replace('_', '-')}: no 3D instance {bad} " in message
    assert "valid ids: 1 (chair), 4 (chair)" in message


def test_an_unknown_class_is_an_error_listing_the_class_table():
    expected = r"--isolate-classes: no class 'sofa' .* valid classes: wall, floor, chair"
    with pytest.raises(SceneEditError, match=expected):
        resolve_edits(TABLE, CLASSES, isolate_classes=["chair", "sofa"])


def test_recolor_specs():
    assert parse_recolor("7=#00ff00") == (7, (0.0, 1.0, 0.0))
    assert parse_recolor("7=00FF00") == (7, (0.0, 1.0, 0.0))
    for bad in ["7", "#00ff00", "x=#00ff00", "7=#00ff0", "7=red"]:
        with pytest.raises(SceneEditError, match="ID=#RRGGBB"):
            parse_recolor(bad)
    with pytest.raises(SceneEditError, match="--recolor-instances: no 3D instance 2"):
        resolve_edits(TABLE, CLASSES, recolor_instances=["2=#ffffff"])


SPLIT = InstanceTable(  # slot 0: parts 1 (x < 0) and 3 (x > 0), both chairs; slot 1: id 2, a chair
    classes=torch.tensor([KEEP_CLASS, CHAIR, CHAIR, CHAIR]),
    slots=torch.tensor([-1, 0, 1, 0]),
    points=torch.tensor([[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]),
    point_ids=torch.tensor([1, 3]),
)


def test_what_a_removal_leaves():
    left = remaining_labels(SceneEdits(remove_instances=(2,)), SPLIT, 3, 2)
    assert left.classes.tolist() == [True, True, True] and left.slots.tolist() == [True, False]
    left = remaining_labels(SceneEdits(remove_instances=(1,)), SPLIT, 3, 2)
    assert left.slots.tolist() == [True, True]  # part 3 of slot 0 is still there
    assert left.table.point_ids.tolist() == [3] and torch.equal(left.table.classes, SPLIT.classes)
    left = remaining_labels(SceneEdits(remove_instances=(1, 3)), SPLIT, 3, 2)
    assert left.slots.tolist() == [False, True] and len(left.table.points) == 0
    left = remaining_labels(SceneEdits(remove_classes=(CHAIR,)), SPLIT, 3, 2)
    assert left.classes.tolist() == [True, True, False] and left.slots.tolist() == [False, False]


def test_a_joined_instance_is_removed_and_isolated_whole():
    """Ids 1 and 2 (slots 0 and 1) are one object: id 2 is joined to 1."""
    joined = InstanceTable(
        classes=torch.tensor([KEEP_CLASS, CHAIR, KEEP_CLASS]),
        slots=torch.arange(-1, 2),
        points=torch.zeros(0, 3),
        point_ids=torch.zeros(0, dtype=torch.long),
        same_as=torch.tensor([0, 1, 1]),
    )
    assert remaining_labels(SceneEdits(remove_instances=(1,)), joined, 3, 2).slots.tolist() == [False, False]
    isolated = remaining_labels(SceneEdits(isolate_instances=(1,)), joined, 3, 2)
    assert isolated.slots.tolist() == [True, True] and isolated.classes.tolist() == [False, False, True]
    assert editable_instances(joined) == [1]


def test_what_an_isolation_leaves():
    left = remaining_labels(SceneEdits(isolate_instances=(3,)), SPLIT, 3, 2)
    assert left.classes.tolist() == [False, False, True] and left.slots.tolist() == [True, False]
    assert left.table.point_ids.tolist() == [3]
    left = remaining_labels(SceneEdits(isolate_classes=(WALL,)), SPLIT, 3, 2)
    assert left.classes.tolist() == [True, False, False] and left.slots.tolist() == [False, False]
    left = remaining_labels(SceneEdits(isolate_classes=(CHAIR,), remove_instances=(2,)), SPLIT, 3, 2)
    assert left.classes.tolist() == [False, False, True] and left.slots.tolist() == [True, False]
    unknown = remaining_labels(SceneEdits(isolate_instances=(2,)), InstanceTable.unknown(2), 3, 2)
    assert unknown.classes.all() and unknown.slots.tolist() == [False, True]  # class unknown: any class
