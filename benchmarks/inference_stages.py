"""Where each class's held-out pixels go, step by step through inference, on trained runs (no training).

The labels a user sees are the class head's rendered distribution passed through four steps: the edge-aware
refinement (``inference/edge_aware_refinement.py``), the instance table's classes (rules 3 to 5 of
``inference/panoptic_rule.py``), rule 6 (a thing pixel beyond its instance's reach takes its stuff class) and the
speckle clean-up (``inference/small_segments.py``). Each step is right on most pixels and wrong on some; on thin
objects, nearly all boundary, the wrong ones add up. This benchmark renders each run's held-out views once, labels
them after every step and prints, per ground-truth class, the share of its pixels whose class is right at each step:
whether a class is lost by the field (already in the class head's column) or by a step after it. The last column is
what ``ns-panoptic eval`` scores. A second table counts, after each step that gives instances, the thing objects
PQ^scene leaves unmatched and why (``evaluation/unmatched_segments.py``).

    python benchmarks/inference_stages.py RUN/config.yml [RUN2/config.yml ...] [--classes pole lamp baseboard]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch
from rich.console import Console
from rich.table import Table
from torch import Tensor

import this_checkout  # noqa: F401  (first: this checkout's package, not an installed copy)

from panoptic_nerfstudio.cli.trained_run import load_panoptic_run
from panoptic_nerfstudio.evaluation.panoptic_quality import PanopticFrameLabels
from panoptic_nerfstudio.evaluation.scene_evaluation import labels_of, labels_of_prediction
from panoptic_nerfstudio.evaluation.semantic_metrics import confusion_matrix
from panoptic_nerfstudio.evaluation.unmatched_segments import MISSED_CAUSES, MatchReport, match_report
from panoptic_nerfstudio.inference.edge_aware_refinement import refined_semantics
from panoptic_nerfstudio.inference.panoptic_rule import PanopticPrediction, infer_panoptic
from panoptic_nerfstudio.utils.progress import frames_progress

STAGES = ("class head", "refined", "instance classes", "rule 6", "clean-up")
"""The steps, in order; each column is the labels after that step."""
INSTANCE_STAGES = ("class head, no refinement or rule 6", "instance classes", "rule 6", "clean-up")
"""The steps after which pixels carry instances, whose objects PQ^scene can match: the first is the rule on the class
head's own distribution (no refinement, no rule 6)."""


def stage_predictions(model, outputs: Dict[str, Tensor]) -> Tuple[Tensor, Dict[str, PanopticPrediction]]:
    """The refined class distribution of one rendered view, and its labels after each step that gives instances
    (``INSTANCE_STAGES``; the last is ``model.infer``'s)."""
    refined = refined_semantics(outputs, model.config.edge_aware_refinement)
    table, points = model.instance_table, outputs["surface_points"]

    def rule(semantics: Tensor, beyond_reach_is_stuff: bool) -> PanopticPrediction:
        return infer_panoptic(semantics, outputs["instances"], model.thing_mask, table, points,
                              beyond_reach_is_stuff=beyond_reach_is_stuff)  # fmt: skip

    return refined, {
        "class head, no refinement or rule 6": rule(outputs["semantics"], False),
        "instance classes": rule(refined, False),
        "rule 6": rule(refined, model.config.stuff_beyond_reach),
        "clean-up": model.infer(outputs),
    }


def stage_classes(
    refined: Tensor, outputs: Dict[str, Tensor], labels: Dict[str, PanopticPrediction]
) -> Dict[str, Tensor]:
    """[H, W] dense class index of one rendered view after each of ``STAGES`` (the last is ``model.infer``'s)."""
    return {
        "class head": outputs["semantics"].argmax(dim=-1),
        "refined": refined.argmax(dim=-1),
        **{stage: labels[stage].semantics for stage in STAGES[2:]},
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


@dataclass
class StageResults:
    """What ``run_stages`` measures on one run."""

    names: List[str]
    """The run's class names."""
    shown: List[str]
    """Those to print (``chosen_classes``)."""
    counts: Dict[str, Tensor]
    """Per stage of ``STAGES`` (and ``"pixels"``): [C] held-out pixels of each class, the right ones after it."""
    unmatched: Dict[str, MatchReport]
    """Per stage of ``INSTANCE_STAGES``: the objects (and predicted segments) PQ^scene leaves unmatched after it."""


def run_stages(config: Path, only: Optional[List[str]] = None) -> StageResults:
    """Render the run's held-out views once and label them after every step. The classes and the ground truth are
    checked before anything is rendered."""
    _, pipeline, model, _ = load_panoptic_run(config, test_mode="test")
    dataset = pipeline.datamanager.eval_dataset
    classes = dataset.classes
    shown = chosen_classes(config, classes.names, only)
    gt_files = [ground_truth_file(dataset, index, config) for index in range(len(dataset))]
    confusions = {name: torch.zeros(len(classes), len(classes), dtype=torch.long) for name in STAGES}
    category_ids = torch.from_numpy(classes.category_ids)
    labelled: Dict[str, List[PanopticFrameLabels]] = {stage: [] for stage in INSTANCE_STAGES}
    targets: List[PanopticFrameLabels] = []
    model.eval()
    with torch.no_grad(), frames_progress(transient=True) as progress:
        for index in progress.track(range(len(dataset)), description=f"Rendering the held-out views of {config}"):
            outputs = model.get_distributions_for_camera(dataset.cameras[index : index + 1])
            refined, labels = stage_predictions(model, outputs)
            stages = stage_classes(refined, outputs, labels)
            height, width = stages["clean-up"].shape
            target = labels_of(gt_files[index], classes, (width, height))
            targets.append(target)
            truth = torch.from_numpy(classes.dense_indices(target.category.numpy()))
            for name, predicted in stages.items():
                confusions[name] += confusion_matrix(predicted.cpu(), truth, len(classes))
            for stage in INSTANCE_STAGES:
                labelled[stage].append(labels_of_prediction(labels[stage], category_ids))
    unmatched = {stage: match_report(frames, targets, classes) for stage, frames in labelled.items()}
    return StageResults(classes.names, shown, pixel_counts(confusions), unmatched)


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


def unmatched_table(unmatched: Dict[str, MatchReport], runs: str = "") -> Table:
    """After each step that gives instances: the objects PQ^scene leaves unmatched, by cause; an object missed after
    every step is lost by the field (or its instance table), not by a step."""
    title = "Objects PQ^scene leaves unmatched after each step (evaluation/unmatched_segments.py)"
    table = Table(title=f"{title}: {runs}" if runs else title)
    table.add_column("step")
    for column in ("unmatched", *MISSED_CAUSES, "false instances"):
        table.add_column(column, justify="right")
    for stage, report in unmatched.items():
        by_cause = report.counts()["missed"]
        table.add_row(stage, str(len(report.missed)), *(str(by_cause[c]) for c in MISSED_CAUSES),
                      str(len(report.false_instances)))  # fmt: skip
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", type=Path, nargs="+", help="config.yml of trained runs whose held-out frames have "
                        "ground truth (gt_panoptic/)")  # fmt: skip
    parser.add_argument("--classes", nargs="*", help="only these classes (names); default: every class held out")
    args = parser.parse_args()
    console = Console(width=160)
    every: Dict[str, MatchReport] = {stage: MatchReport([], []) for stage in INSTANCE_STAGES}
    for config in args.configs:
        results = run_stages(config, args.classes)
        console.print(stages_table(str(config), results.names, results.counts, results.shown))
        console.print(unmatched_table(results.unmatched))
        for stage, report in results.unmatched.items():
            every[stage].missed += report.missed
            every[stage].false_instances += report.false_instances
    if len(args.configs) > 1:
        console.print(unmatched_table(every, f"all {len(args.configs)} runs"))


if __name__ == "__main__":
    main()
