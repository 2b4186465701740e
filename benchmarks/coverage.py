"""How well a demo scene's training views cover what its held-out views show, per class.

A held-out pixel whose surface point one or two training views see (or none) cannot be triangulated: the field
tends to leave that surface transparent and paint its colour on what lies behind, and to label it as that. The
2D input masks of the held-out views are drawn from those very views, so on such pixels the input has an edge
that no lifting method has. This benchmark counts, from the scene's ground-truth geometry, the training views that
see each held-out pixel's surface point (``demo_scene.view_coverage``), and prints per class the held-out pixels,
the median count and the share seen by no training view and by at most two. No training: it reads the scenes.

With ``--runs`` (trained runs of demo scenes, as ``quality.py`` writes them) it also renders each run's held-out
views and prints, per run and coverage, the share of pixels whose class the lifted field and the 2D input get right
(the ground truth's class; a void input pixel is wrong) and the share rendered well in front of or behind their
true surface: where lifting loses to its input, whether that is where the training views did not look, and whether
the geometry there is wrong.

    python benchmarks/quality.py --jobs 2 --no-ablations        # writes the suite's scenes under --out/scenes
    python benchmarks/coverage.py benchmarks/quality-runs/scenes/*
    python benchmarks/coverage.py --runs benchmarks/quality-runs/runs/*
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
from rich.console import Console
from rich.table import Table

import this_checkout  # noqa: F401  (first: this checkout's package, not an installed copy)

from panoptic_nerfstudio.demo_scene.geometry import Hits, Intrinsics
from panoptic_nerfstudio.demo_scene.layouts import build_scene, get_layout
from panoptic_nerfstudio.demo_scene.view_coverage import pixel_hits, view_counts

FEW_VIEWS = 2
"""At most this many training views: too few to place a surface."""


BUCKETS = {"no view": (0, 0), f"1 to {FEW_VIEWS} views": (1, FEW_VIEWS), f"{FEW_VIEWS + 1} or more": (FEW_VIEWS + 1, None)}
"""Coverage buckets of the accuracy table: (fewest, most) training views, inclusive; None: no limit."""


Frame = Tuple[np.ndarray, np.ndarray, np.ndarray]
"""One held-out frame's ground truth, [H, W] each: the training views that see each pixel's surface point, the class
index of the pixel's object (both -1 where the pixel hits nothing) and the distance to the surface (inf there)."""
IN_FRONT, BEHIND = 0.8, 1.25
"""A rendered depth under ``IN_FRONT`` times the true distance is something in front of the surface (a floater);
over ``BEHIND`` times it, the surface left transparent."""


@dataclass
class DemoGeometry:
    """A demo scene's true geometry, rebuilt from the seed and layout its ``transforms.json`` records."""

    meta: dict
    """The scene's ``transforms.json``."""
    objects: list
    """The scene's objects (``demo_scene.layouts.build_scene``)."""
    intr: Intrinsics
    poses: Dict[str, np.ndarray]
    """Camera-to-world pose per image file path, as ``transforms.json`` names it."""
    object_class: np.ndarray
    """Class index of each object, and -1 last (a miss, object -1)."""
    names: List[str]
    """Class names, in class-index order."""

    def hits(self, file_path: str) -> Hits:
        """The surface hit by each pixel's centre ray of one image, row-major."""
        return pixel_hits(self.objects, self.intr, self.poses[file_path])

    def surface(self, hits: Hits) -> Tuple[np.ndarray, np.ndarray]:
        """[H, W] class index (-1: nothing hit) and distance in metres (inf there) of an image's ``hits``."""
        shape = (self.intr.height, self.intr.width)
        return self.object_class[hits.obj].reshape(shape), hits.t.reshape(shape)


def demo_geometry(scene: Path) -> DemoGeometry:
    """The geometry of a demo scene folder; a scene that is not one is named."""
    meta_file = scene / "transforms.json"
    meta = json.loads(meta_file.read_text())
    demo = meta.get("panoptic_demo_scene")
    if demo is None:
        raise SystemExit(f"{meta_file}: not a demo scene (no 'panoptic_demo_scene' entry): its geometry is unknown")
    layout = get_layout(demo.get("layout", "default"))
    objects = build_scene(int(demo["seed"]), layout.name)
    intr = Intrinsics(meta["fl_x"], meta["fl_y"], meta["cx"], meta["cy"], int(meta["w"]), int(meta["h"]))
    poses = {frame["file_path"]: np.array(frame["transform_matrix"], dtype=float) for frame in meta["frames"]}
    index_of = {category.id: i for i, category in enumerate(layout.classes.categories)}
    object_class = np.array([index_of[o.category_id] for o in objects] + [-1])
    return DemoGeometry(meta, objects, intr, poses, object_class, [c.name for c in layout.classes.categories])


def frame_coverage(scene: Path) -> Tuple[Dict[str, Frame], List[str]]:
    """Per held-out image file name, its ``Frame`` from the scene's ground truth; and the class names."""
    geometry = demo_geometry(scene)
    sources = [geometry.poses[name] for name in geometry.meta["train_filenames"]]
    frames: Dict[str, Frame] = {}
    for name in geometry.meta["val_filenames"]:
        hits = geometry.hits(name)
        counts = view_counts(geometry.objects, geometry.intr, hits, sources)
        frames[Path(name).name] = (counts, *geometry.surface(hits))
    return frames, geometry.names


def scene_coverage(scene: Path) -> Dict[str, np.ndarray]:
    """Per class name, the training views that see each held-out pixel of that class (ground truth)."""
    frames, names = frame_coverage(scene)
    per_class: Dict[str, List[np.ndarray]] = {}
    for counts, classes, _ in frames.values():
        for index in np.unique(classes[classes >= 0]):
            per_class.setdefault(names[index], []).append(counts[classes == index])
    return {label: np.concatenate(parts) for label, parts in per_class.items()}


def coverage_table(scenes: List[Path]) -> Table:
    table = Table(title=f"Held-out pixels by the training views that see their surface (<= {FEW_VIEWS}: too few)")
    for column in ("scene", "class", "held-out pixels", "median views", "seen by none", f"<= {FEW_VIEWS} views"):
        table.add_column(column, justify="left" if column in ("scene", "class") else "right")
    for scene in scenes:
        coverage = scene_coverage(scene)
        everything = np.concatenate(list(coverage.values()))
        for label, counts in sorted(coverage.items()) + [("(all)", everything)]:
            table.add_row(
                scene.name, label, str(len(counts)), f"{np.median(counts):.0f}",
                f"{np.mean(counts == 0):.0%}", f"{np.mean(counts <= FEW_VIEWS):.0%}",
            )  # fmt: skip
        table.add_section()
    return table


@dataclass
class Bucket:
    """The held-out pixels of one coverage bucket; every figure a share of them but the first."""

    share: float
    """Of all held-out pixels that hit a surface."""
    input_right: float
    """Whose class the 2D input gets right (a void input pixel is wrong)."""
    lifted_right: float
    """Whose class the lifted field gets right."""
    in_front: float
    """Rendered in front of their surface (depth under ``IN_FRONT`` times the true distance): a floater."""
    behind: float
    """Rendered behind it (over ``BEHIND`` times): the surface left transparent."""


@dataclass
class RunCoverage:
    """One trained run's held-out views split by coverage."""

    buckets: Dict[str, Bucket]
    """Per coverage bucket (``BUCKETS``) with pixels in it."""
    pq: Dict[Tuple[str, str], float]
    """PQ^scene of ("input" | "lifted", "all" | "covered"): on all pixels, and on those more than ``FEW_VIEWS``
    training views see (the others void in the ground truth)."""


def run_coverage(config: Path) -> RunCoverage:
    """Render a trained run's held-out views and split them by the training views that see each pixel's surface. The
    scene is the run's own ``--data``, which must be a demo scene."""
    import torch  # (torch and nerfstudio: only with --runs)

    from panoptic_nerfstudio.cli.trained_run import load_panoptic_run
    from panoptic_nerfstudio.evaluation.panoptic_quality import (
        VOID_CATEGORY, PanopticFrameLabels, frames_with_unique_ids, scene_panoptic_quality,
    )  # fmt: skip
    from panoptic_nerfstudio.evaluation.scene_evaluation import labels_of, labels_of_prediction

    trainer, pipeline, model, _ = load_panoptic_run(config, test_mode="test")
    scene = Path(trainer.pipeline.datamanager.data or trainer.data)
    frames, names = frame_coverage(scene)
    dataset, classes = pipeline.datamanager.eval_dataset, pipeline.datamanager.eval_dataset.classes
    if list(classes.names) != names:
        raise SystemExit(f"{config}: its classes {classes.names} are not those of its scene {scene}")
    category_ids = torch.from_numpy(classes.category_ids)
    labels: Dict[str, List[PanopticFrameLabels]] = {"all": [], "covered": [], "input": [], "lifted": []}
    scale = pipeline.datamanager.train_dataparser_outputs.dataparser_scale  # scene units per metre
    pixels: Dict[str, List[np.ndarray]] = {"views": [], "truth": [], "input": [], "lifted": [], "depth": []}
    for index in range(len(dataset)):
        views, truth, distance = frames[Path(dataset.image_filenames[index]).name]
        size = (views.shape[1], views.shape[0])
        outputs = model.get_distributions_for_camera(dataset.cameras[index : index + 1])
        prediction = model.infer(outputs)
        semantics = prediction.semantics.long().cpu()
        layers = dataset.panoptic.layers[index]
        target, given = labels_of(layers.gt_panoptic, classes, size), labels_of(layers.panoptic, classes, size)
        few = torch.from_numpy(views <= FEW_VIEWS)
        labels["all"].append(target)
        labels["covered"].append(PanopticFrameLabels(target.category.masked_fill(few, VOID_CATEGORY), target.instance))
        labels["input"].append(given)
        labels["lifted"].append(labels_of_prediction(prediction, category_ids))
        pixels["views"].append(views.ravel())
        pixels["truth"].append(truth.ravel())
        pixels["input"].append(classes.dense_indices(given.category.numpy()).ravel())
        pixels["lifted"].append(semantics.numpy().ravel())
        pixels["depth"].append((outputs["depth"][..., 0].cpu().numpy() / (distance * scale)).ravel())
    inputs = frames_with_unique_ids(labels["input"])
    pq = {
        (way, part): scene_panoptic_quality(predicted, labels[part], classes).all.pq
        for way, predicted in (("input", inputs), ("lifted", labels["lifted"]))
        for part in ("all", "covered")
    }
    views, truth, given_classes, lifted_classes, depth = (np.concatenate(pixels[key]) for key in pixels)
    valid = truth >= 0
    buckets = {}
    for label, (low, high) in BUCKETS.items():
        bucket = valid & (views >= low) & (views <= (high if high is not None else views.max()))
        if bucket.any():
            buckets[label] = Bucket(
                share=float(bucket.sum() / valid.sum()),
                input_right=float(np.mean(given_classes[bucket] == truth[bucket])),
                lifted_right=float(np.mean(lifted_classes[bucket] == truth[bucket])),
                in_front=float(np.mean(depth[bucket] < IN_FRONT)),
                behind=float(np.mean(depth[bucket] > BEHIND)),
            )
    return RunCoverage(buckets, pq)


def accuracy_table(runs: List[Path]) -> Table:
    from clustering import config_of  # (a benchmark beside this one; it imports nerfstudio: only with --runs)

    table = Table(title="Held-out pixels whose class is right, by the training views that see their surface; "
                  f"PQ^scene of all pixels and of those {FEW_VIEWS + 1} or more training views see")  # fmt: skip
    for column in ("run", "training views", "share of pixels", "input right", "lifted right", "depth in front",
                   "depth behind", "PQ input", "PQ lifted"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("run", "training views") else "right")
    for run in runs:
        result = run_coverage(config_of(run))
        for label, b in result.buckets.items():
            table.add_row(run.name, label, f"{b.share:.0%}", f"{b.input_right:.1%}", f"{b.lifted_right:.1%}",
                          f"{b.in_front:.1%}", f"{b.behind:.1%}", "", "")  # fmt: skip
        for part, label in (("all", "all pixels"), ("covered", f"{FEW_VIEWS + 1} or more")):
            table.add_row(run.name, f"PQ^scene: {label}", "", "", "", "", "", f"{result.pq['input', part]:.1f}",
                          f"{result.pq['lifted', part]:.1f}")  # fmt: skip
        table.add_section()
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenes", type=Path, nargs="*", help="demo scene folders (ns-panoptic demo-data's output)")
    parser.add_argument("--runs", type=Path, nargs="*", default=[],
                        help="trained runs of demo scenes: config.yml files, or run folders holding one")  # fmt: skip
    args = parser.parse_args()
    if not args.scenes and not args.runs:
        parser.error("give demo scene folders, --runs, or both")
    console = Console(width=200)
    if args.scenes:
        console.print(coverage_table(args.scenes))
    if args.runs:
        console.print(accuracy_table(args.runs))


if __name__ == "__main__":
    main()
