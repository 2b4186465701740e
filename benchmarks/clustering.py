"""Contrastive head: clustering all thing pixels together against each class apart, on the same trained fields.

Clustering happens after training (at each checkpoint save), so the two ways are compared on one trained field
each, with nothing else changed: every run given is recalibrated in memory both ways (nothing is written to it)
and evaluated on its held-out frames as ``ns-panoptic eval`` does.

    python benchmarks/quality.py --no-ablations --layouts default crowded --scene-seeds 0 --heads contrastive
    python benchmarks/clustering.py benchmarks/quality-runs/runs/*-contrastive

It prints, per run and way: the cluster centres, the 3D instances, PQ^scene (things, stuff), merges and splits.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import List

from rich.console import Console
from rich.table import Table

import this_checkout  # noqa: F401  (first: this checkout's package, not an installed copy)

from panoptic_nerfstudio.cli.trained_run import load_panoptic_run
from panoptic_nerfstudio.evaluation.scene_evaluation import evaluate_scene
from panoptic_nerfstudio.inference.instance_table import calibrate_from_dataset

WAYS = {"joint": False, "per class": True}
"""``--pipeline.model.contrastive.cluster-per-class`` of each way."""


def config_of(run: Path) -> Path:
    """A run's config.yml: the path itself, or the one config.yml under a run folder of quality.py."""
    if run.suffix == ".yml":
        return run
    found = sorted(run.rglob("config.yml"))
    if len(found) != 1:
        raise SystemExit(f"{run}: expected one config.yml under it, found {len(found)}")
    return found[0]


def compare(runs: List[Path], console: Console) -> Table:
    table = Table(title="Contrastive head: clusters of all thing pixels (joint) or of each class apart")
    for column in ("run", "way", "centres", "3D instances", "PQ^scene", "things", "stuff", "merges", "splits"):
        table.add_column(column, justify="left" if column in ("run", "way") else "right")
    for run in runs:
        _, pipeline, model, _ = load_panoptic_run(config_of(run), test_mode="test")
        if model.config.instance_head != "contrastive":
            raise SystemExit(f"{run}: trained with the {model.config.instance_head} head, not the contrastive one")
        train = pipeline.datamanager.train_dataset
        for way, per_class in WAYS.items():
            console.print(f"{run.name}: clustering ({way})")
            model.config.contrastive.cluster_per_class = per_class
            calibrate_from_dataset(model, train)  # as at a checkpoint save
            evaluation = evaluate_scene(model, pipeline.datamanager.eval_dataset)
            metrics, errors = evaluation.metrics(), evaluation.instance_errors
            table.add_row(
                run.name, way, str(model.heads.num_instances), str(len(model.instance_classes) - 1),
                *(f"{metrics[k]:.1f}" for k in ("lifted_pq", "lifted_pq_things", "lifted_pq_stuff")),
                str(errors.merged if errors else ""), str(errors.split if errors else ""),
            )  # fmt: skip
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+", help="config.yml files, or run folders holding one")
    args = parser.parse_args()
    console = Console(width=160)
    console.print(compare(args.runs, console))


if __name__ == "__main__":
    main()
