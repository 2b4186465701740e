"""``ns-panoptic eval``: scene-level panoptic quality of a trained model, next to its 2D input masks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict

from rich.table import Table

from nerfstudio.utils.rich_utils import CONSOLE

from panoptic_nerfstudio.cli.trained_run import load_panoptic_run
from panoptic_nerfstudio.data.panoptic_format import ClassTable, write_panoptic
from panoptic_nerfstudio.evaluation.panoptic_quality import AUTHORS_MIN_CATEGORY_SHARE
from panoptic_nerfstudio.evaluation.prediction_encoding import prediction_to_frame
from panoptic_nerfstudio.evaluation.scene_evaluation import SceneEvaluation, evaluate_scene
from panoptic_nerfstudio.evaluation.unmatched_segments import MatchReport
from panoptic_nerfstudio.inference.instance_table import MIN_VIEWS


UNMATCHED_SHOWN = 10
"""Unmatched objects ``ns-panoptic eval`` prints (metrics.json lists them all)."""


@dataclass
class Eval:
    """Render the evaluation split, write panoptic predictions and print PQ^scene, mIoU and PSNR."""

    load_config: Path
    """config.yml of a panoptic-lifting training run."""
    output_dir: Path = Path("panoptic_eval")
    """Where metrics.json and the predictions (pred/<stem>.png and .json, docs/format.md) are written."""

    def main(self) -> int:
        _, pipeline, model, checkpoint = load_panoptic_run(self.load_config, test_mode="test")
        dataset = pipeline.datamanager.eval_dataset
        classes = dataset.classes
        pred_dir = self.output_dir / "pred"
        max_instance_id = len(model.instance_classes) - 1  # K, plus the extra parts of split slots

        def write(index: int, frame: Dict) -> None:
            stem = Path(dataset.image_filenames[index]).stem
            write_panoptic(pred_dir / f"{stem}.png", prediction_to_frame(frame["prediction"], classes, max_instance_id))

        evaluation = evaluate_scene(model, dataset, on_frame=write)
        metrics = {
            "checkpoint": str(checkpoint),
            "instance_head": model.config.instance_head,
            "instance_head_summary": model.instance_head_summary,
            **evaluation.metrics(),
            "per_category": evaluation.per_category(classes),
            "authors_dropped_categories": evaluation.authors_dropped_categories(classes),
        }
        if evaluation.unmatched is not None:
            metrics["unmatched"] = evaluation.unmatched.as_list(classes)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        (self.output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        if evaluation.lifted_pq is None:
            CONSOLE.print("[yellow]No gt_panoptic/ for these frames: only RGB metrics and predictions are reported.")
        CONSOLE.print(results_table(evaluation))
        if evaluation.unmatched is not None and evaluation.unmatched.missed:
            CONSOLE.print(unmatched_objects_table(evaluation.unmatched, classes))
        dropped = {key: ", ".join(names) or "none" for key, names in metrics["authors_dropped_categories"].items()}
        if dropped:
            CONSOLE.print(
                "Rows \"authors' protocol\": PQ^scene as the paper's evaluation computes it, categories under "
                f"{AUTHORS_MIN_CATEGORY_SHARE:.1%} of the pixels left out (lifted: {dropped['lifted']}; "
                f"2D input: {dropped['input']})."
            )
        CONSOLE.print(f"Instance head: {model.instance_head_summary} (--pipeline.model.instance-head).")
        CONSOLE.print(
            f"Labels use the run's instance table (from the training views, stored in {checkpoint.name}): "
            f"{evaluation.dropped_instances} 3D instance(s) under {model.config.min_instance_area:.2%} of the pixels "
            f"and in fewer than {MIN_VIEWS} views are dropped to their most likely stuff class "
            "(--pipeline.model.min-instance-area)."
        )
        CONSOLE.print(f"Predictions in {pred_dir}, metrics in {self.output_dir / 'metrics.json'}")
        return 0


def unmatched_line(counts: Dict[str, Dict[str, int]]) -> str:
    """The objects and predicted instances PQ^scene leaves unmatched, by cause, in words."""

    def causes(side: str) -> str:
        named = [f"{n} {cause}" for cause, n in counts[side].items() if n]
        return f" ({', '.join(named)})" if named else ""

    missed, false = sum(counts["missed"].values()), sum(counts["false_instances"].values())
    return (
        f"unmatched by PQ^scene: {missed} object(s){causes('missed')}, {false} predicted instance(s)"
        f"{causes('false_instances')} (metrics.json: unmatched)"
    )


def unmatched_objects_table(report: MatchReport, classes: ClassTable, limit: int = UNMATCHED_SHOWN) -> Table:
    """The largest objects PQ^scene leaves unmatched, each with its cause and best IoU: where to look first."""
    shown = report.missed[:limit]
    table = Table(title=f"Objects PQ^scene leaves unmatched: the largest {len(shown)} of {len(report.missed)}")
    for column in ("class", "ground-truth id", "held-out pixels", "where most of them went", "best IoU"):
        table.add_column(column, justify="left" if column in ("class", "where most of them went") else "right")
    for segment in shown:
        table.add_row(classes.by_id(segment.category).name, str(segment.instance), str(segment.pixels), segment.cause,
                      f"{segment.best_iou:.2f}")  # fmt: skip
    return table


def results_table(evaluation: SceneEvaluation) -> Table:
    table = Table(title=f"Scene-level evaluation ({evaluation.frames} frames)")
    for column in ("", "PQ", "SQ", "RQ", "PQ things", "PQ stuff", "mIoU"):
        table.add_column(column, justify="right")
    for name, pq, miou in (
        ("lifted (ours)", evaluation.lifted_pq, f"{evaluation.lifted_miou:.1f}"),
        ("2D input masks", evaluation.input_pq, f"{evaluation.input_miou:.1f}"),
        ("lifted, authors' protocol", evaluation.lifted_pq_authors, ""),
        ("2D input, authors' protocol", evaluation.input_pq_authors, ""),
    ):
        if pq is None:
            continue
        table.add_row(name, *(f"{v:.1f}" for v in (pq.all.pq, pq.all.sq, pq.all.rq, pq.things.pq, pq.stuff.pq)), miou)
    table.caption = f"PSNR {evaluation.psnr:.2f} dB"
    errors = evaluation.instance_errors
    if errors is not None:
        table.caption += (
            f"; of {errors.objects} ground-truth objects, {errors.merged} merged with another and {errors.split} split "
            "over several 3D instances"
        )
        if errors.merged_kept_apart is not None:
            table.caption += f" ({errors.merged_kept_apart} of the merged in pairs the 2D input masks keep apart)"
    if evaluation.unmatched is not None:
        table.caption += "; " + unmatched_line(evaluation.unmatched.counts())
    return table

