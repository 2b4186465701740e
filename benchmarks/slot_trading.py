"""Does the per-image assignment hand an object its neighbour's slot? (issue 17: why touching objects collapse)

The slot head's instance loss matches each image's 2D thing segments to the K slots alone. Two touching objects of
one class that a frame does not draw apart (one is out of view, or the 2D network merged or missed it) leave the
other's slot free in that frame, and the field, smooth across the contact, may score it best. This script trains
`panoptic-lifting-lite` on a scene with every assignment recorded, maps every input thing segment to the
ground-truth object covering most of it (the scene needs `gt_panoptic/`), and prints, for the last third of
training, how often object A's segment was given the slot object B's own segments get most, by whether B had its
own segment in that frame, was visible without one, or was not visible. Counts are assignments: a frame's segments
are assigned again each time a batch draws the frame.

    python benchmarks/slot_trading.py --data SCENE --out DIR [--seed 42] [--steps N] [NS-TRAIN FLAGS OF A VARIANT]

A second call with the same DIR reads the recorded run instead of training (delete DIR to train again).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

import numpy as np

from this_checkout import CHECKOUT  # noqa: F401  (first: this checkout's package, not an installed one)

from lite_runs import run_config, training_arguments  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

MIN_VISIBLE_PIXELS = 100
"""A ground-truth object counts as visible in a frame from this many pixels (at the frame's own size)."""
KINDS = ("own segment", "visible, no segment", "not visible")


@contextlib.contextmanager
def recorded_assignments(path: Path) -> Iterator[List[np.ndarray]]:
    """While open, every call of the slot assignment appends its (segment row, slot) pairs; saved to ``path``
    ([n, 3] call, segment row, slot) on exit."""
    import torch

    from panoptic_nerfstudio.model_components import instance_assignment

    calls: List[np.ndarray] = []
    solve = instance_assignment.assign_slots

    def recording(slot_probs, segment, frame, is_thing, *args, **kwargs):
        assignment = solve(slot_probs, segment, frame, is_thing, *args, **kwargs)
        given = assignment.target >= 0
        pairs = torch.unique(torch.stack([segment[given], assignment.target[given]], dim=1), dim=0).cpu().numpy()
        calls.append(np.column_stack([np.full(len(pairs), len(calls)), pairs]).astype(np.int64))
        return assignment

    instance_assignment.assign_slots = recording  # instance_loss looks it up at each call
    try:
        yield calls
    finally:
        instance_assignment.assign_slots = solve
        np.save(path, np.concatenate(calls) if calls else np.zeros((0, 3), dtype=np.int64))


def train(data: Path, out: Path, seed: int, steps: Optional[int], flags: Sequence[str] = ()) -> None:
    """``ns-train panoptic-lifting-lite`` (with a variant's ``flags``) in this process, its assignments recorded to
    ``out/assignments.npy``."""
    from nerfstudio.scripts.train import entrypoint

    saved, sys.argv = sys.argv, ["ns-train", *training_arguments(data, out, seed, steps), *flags]
    try:
        with recorded_assignments(out / "assignments.npy"):
            entrypoint()
    finally:
        sys.argv = saved


@dataclass
class SegmentObjects:
    """Which ground-truth object each input thing segment shows, and which objects each training frame draws and
    shows."""

    object_of_row: Dict[int, str] = field(default_factory=dict)
    frame_of_row: Dict[int, int] = field(default_factory=dict)
    drawn: Dict[int, Set[str]] = field(default_factory=lambda: defaultdict(set))
    visible: Dict[int, Set[str]] = field(default_factory=lambda: defaultdict(set))

    def kind(self, frame: int, other: str) -> str:
        if other in self.drawn[frame]:
            return KINDS[0]
        return KINDS[1] if other in self.visible[frame] else KINDS[2]


def add_frame(objects: SegmentObjects, frame: int, rows: List[Tuple[int, int]], input_ids, gt_objects, names) -> None:
    """Record one frame: ``rows`` its (segment row, segment id) of thing segments, ``input_ids`` [H, W] its input
    segment ids, ``gt_objects`` [H, W] its ground-truth object ids (0: none), ``names`` object id -> name."""
    ids, counts = np.unique(gt_objects[gt_objects > 0], return_counts=True)
    objects.visible[frame].update(names[int(i)] for i, c in zip(ids, counts) if c >= MIN_VISIBLE_PIXELS)
    for row, segment_id in rows:
        covered = gt_objects[input_ids == segment_id]
        covered = covered[covered > 0]
        if len(covered) == 0:
            continue
        values, counts = np.unique(covered, return_counts=True)
        name = names[int(values[counts.argmax()])]
        objects.object_of_row[row], objects.frame_of_row[row] = name, frame
        objects.drawn[frame].add(name)


def segment_objects(config: Path) -> SegmentObjects:
    """The ``SegmentObjects`` of a trained run's training frames (input masks and ground truth from its scene)."""
    from panoptic_nerfstudio.cli.trained_run import load_panoptic_run
    from panoptic_nerfstudio.data.panoptic_format import read_panoptic
    from panoptic_nerfstudio.data.scene_layout import GT_PANOPTIC, PANOPTIC, layer_path, load_transforms
    from panoptic_nerfstudio.evaluation.scene_evaluation import labels_of

    _, pipeline, _, _ = load_panoptic_run(config, test_mode="test")
    dataset = pipeline.datamanager.train_dataset
    store, classes = dataset.store, dataset.classes
    transforms, scene = load_transforms(pipeline.datamanager.dataparser.config.data)
    frames = {Path(f["file_path"]).stem: f for f in transforms["frames"]}
    offsets = store.frame_segment_offset.tolist()
    objects = SegmentObjects()
    for index, filename in enumerate(dataset.image_filenames):
        frame = frames[Path(filename).stem]
        input_ids = read_panoptic(layer_path(scene, frame, PANOPTIC)).ids
        height, width = input_ids.shape
        gt = labels_of(layer_path(scene, frame, GT_PANOPTIC), classes, (width, height))
        gt_objects, category = gt.instance.numpy(), gt.category.numpy()
        names = {int(o): f"{classes.by_id(int(category[gt_objects == o][0])).name} {int(o)}"
                 for o in np.unique(gt_objects[gt_objects > 0])}  # fmt: skip
        rows = [(r, int(store.segment_id[r])) for r in range(offsets[index], offsets[index + 1])
                if int(store.segment_instance[r]) >= 0]  # fmt: skip
        add_frame(objects, index, rows, input_ids, gt_objects, names)
    return objects


def trading_counts(assignments: np.ndarray, objects: SegmentObjects) -> Dict[Tuple[str, str], Counter]:
    """Over the last third of the recorded calls: for each ordered pair (A, B) of same-class objects, a Counter of
    (kind of B in the frame, A's segment given B's slot?), B's slot being the one B's own segments got most then."""
    late = assignments[assignments[:, 0] >= (assignments[:, 0].max() + 1) * 2 // 3] if len(assignments) else assignments
    slots_of: Dict[str, Counter] = defaultdict(Counter)
    for _, row, slot in late:
        if int(row) in objects.object_of_row:
            slots_of[objects.object_of_row[int(row)]][int(slot)] += 1
    top = {name: counts.most_common(1)[0][0] for name, counts in slots_of.items()}
    counts: Dict[Tuple[str, str], Counter] = defaultdict(Counter)
    for _, row, slot in late:
        a = objects.object_of_row.get(int(row))
        if a is None:
            continue
        frame = objects.frame_of_row[int(row)]
        for b, b_slot in top.items():
            if b != a and b.rsplit(" ", 1)[0] == a.rsplit(" ", 1)[0]:
                counts[(a, b)][(objects.kind(frame, b), int(slot) == b_slot)] += 1
    return counts


def trading_table(counts: Dict[Tuple[str, str], Counter]) -> Table:
    table = Table(title="A's segment given B's slot (last third of training; assignments)")
    for column in ("A", "B", *(f"B: {kind}" for kind in KINDS)):
        table.add_column(column, justify="left" if column in ("A", "B") else "right")
    for (a, b), c in sorted(counts.items()):
        if any(c[(kind, True)] for kind in KINDS):
            cells = [f"{c[(k, True)]} / {c[(k, True)] + c[(k, False)]}" if c[(k, True)] + c[(k, False)] else "-"
                     for k in KINDS]  # fmt: skip
            table.add_row(a, b, *cells)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a scene with gt_panoptic/")
    parser.add_argument("--out", type=Path, required=True, help="where the run and its record go")
    parser.add_argument("--seed", type=int, default=42, help="the training seed (--machine.seed)")
    parser.add_argument("--steps", type=int, default=None, help="override the preset's training steps")
    args, flags = parser.parse_known_args()
    record = args.out / "assignments.npy"
    if not record.exists():
        train(args.data, args.out, args.seed, args.steps, flags)
    counts = trading_counts(np.load(record), segment_objects(run_config(args.out)))
    Console(width=160).print(trading_table(counts))


if __name__ == "__main__":
    main()
