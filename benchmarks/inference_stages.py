"""Where each class's held-out pixels go, step by step through inference, on trained runs (no training).

The labels a user sees are the class head's rendered distribution passed through four steps: the edge-aware
refinement (``inference/edge_aware_refinement.py``), the instance table's classes (rules 3 to 5 of
``inference/panoptic_rule.py``), rule 6 (a thing pixel beyond its instance's reach takes its stuff class) and the
speckle clean-up (``inference/small_segments.py``). Each step is right on most pixels and wrong on some; on thin
objects, nearly all boundary, the wrong ones add up. This benchmark renders each run's held-out views once, labels
them after every step and prints, per ground-truth class, the share of its pixels whose class is right at each step:
whether a class is lost by the field (already in the class head's column) or by a step after it. The last column is
what ``ns-panoptic eval`` scores.

    python benchmarks/inference_stages.py RUN/config.yml [RUN2/config.yml ...] [--classes pole lamp baseboard]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch
from rich.console import Console
from rich.table import Table
from torch import Tensor

import this_checkout  # noqa: F401  (first: this checkout's package, not an installed copy)

from panoptic_nerfstudio.cli.trained_run import load_panoptic_run
from panoptic_nerfstudio.evaluation.scene_evaluation import labels_of
from panoptic_nerfstudio.evaluation.semantic_metrics import confusion_matrix
from panoptic_nerfstudio.inference.edge_aware_refinement import refined_semantics
from panoptic_nerfstudio.inference.panoptic_rule import infer_panoptic
from panoptic_nerfstudio.utils.progress import frames_progress

STAGES = ("class head", "refined", "instance classes", "rule 6", "clean-up")
"""The steps, in order; each column is the labels after that step."""


def stage_classes(model, outputs: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """[H, W] dense class index of one rendered view after each of ``STAGES`` (the last is ``model.infer``'s)."""
    refined = refined_semantics(outputs, model.config.edge_aware_refinement)
    table, points = model.instance_table, outputs["surface_points"]

    def rule(beyond_reach_is_stuff: bool) -> Tensor:
        return infer_panoptic(refined, outputs["instances"], model.thing_mask, table, points,
                              beyond_reach_is_stuff=beyond_reach_is_stuff).semantics  # fmt: skip

    return {
        "class head": outputs["semantics"].argmax(dim=-1),
        "refined": refined.argmax(dim=-1),
        "instance classes": rule(False),
        "rule 6": rule(model.config.stuff_beyond_reach),
        "clean-up": model.infer(outputs).semantics,
    }


def pixel_counts(confusions: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """From each stage's [C, C] confusion (rows: the ground truth): its right pixels of each class (the diagonal),
    and under ``"pixels"`` each class's held-out pixels (the rows' sums, alike for every stage)."""
    counts = {name: confusion.diagonal().clone() for name, confusion in confusions.items()}
    return {"pixels": next(iter(confusions.values())).sum(dim=1), **counts}


def ground_truth_file(dataset, index: int, config: Path) -> Path:
    """The ground-truth panoptic file of held-out frame ``index``; a run without one cannot be scored."""
    gt_file = dataset.panoptic.layers[index].gt_panoptic
    if gt_file is None:
        raise SystemExit(f"{config}: held-out frame {dataset.image_filenames[index]} has no gt_panoptic/ file")
    return gt_file


def chosen_classes(config: Path, names: List[str], only: Optional[List[str]]) -> List[str]:
    """The classes to print: ``only`` (every one a class of the run), or all of the run's."""
    unknown = sorted(set(only or []) - set(names))
    if unknown:
        raise SystemExit(f"{config}: no class {', '.join(unknown)} in this run (its classes: {', '.join(names)})")
    return list(only) if only else list(names)


def run_stages(config: Path, only: Optional[List[str]] = None) -> Tuple[List[str], List[str], Dict[str, Tensor]]:
    """The run's class names, those to print (``chosen_classes``), and per stage (and ``"pixels"``): [C] held-out
    pixels of each class, the right ones after each stage. The classes and the ground truth are checked before
    anything is rendered."""
    _, pipeline, model, _ = load_panoptic_run(config, test_mode="test")
    dataset = pipeline.datamanager.eval_dataset
    classes = dataset.classes
    shown = chosen_classes(config, classes.names, only)
    gt_files = [ground_truth_file(dataset, index, config) for index in range(len(dataset))]
    confusions = {name: torch.zeros(len(classes), len(classes), dtype=torch.long) for name in STAGES}
    model.eval()
    with torch.no_grad(), frames_progress(transient=True) as progress:
        for index in progress.track(range(len(dataset)), description=f"Rendering the held-out views of {config}"):
            outputs = model.get_distributions_for_camera(dataset.cameras[index : index + 1])
            stages = stage_classes(model, outputs)
            height, width = stages["clean-up"].shape
            category = labels_of(gt_files[index], classes, (width, height)).category.numpy()
            truth = torch.from_numpy(classes.dense_indices(category))
            for name, predicted in stages.items():
                confusions[name] += confusion_matrix(predicted.cpu(), truth, len(classes))
    return classes.names, shown, pixel_counts(confusions)


def stages_table(title: str, names: List[str], counts: Dict[str, Tensor], shown: List[str]) -> Table:
    """One row per class of ``shown`` that the held-out views hold: its pixels and the share right after each step."""
    table = Table(title=title)
    table.add_column("class")
    table.add_column("held-out pixels", justify="right")
    for stage in STAGES:
        table.add_column(stage, justify="right")
    for index, name in enumerate(names):
        pixels = int(counts["pixels"][index])
        if pixels == 0 or name not in shown:
            continue
        shares = [f"{100 * int(counts[stage][index]) / pixels:.1f}%" for stage in STAGES]
        table.add_row(name, str(pixels), *shares)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", type=Path, nargs="+", help="config.yml of trained runs whose held-out frames have "
                        "ground truth (gt_panoptic/)")  # fmt: skip
    parser.add_argument("--classes", nargs="*", help="only these classes (names); default: every class held out")
    args = parser.parse_args()
    console = Console(width=160)
    for config in args.configs:
        names, shown, counts = run_stages(config, args.classes)
        console.print(stages_table(str(config), names, counts, shown))


if __name__ == "__main__":
    main()
