"""Inference-time post-processing on trained runs, without retraining: the small-segment clean-up's threshold.

Each run's instance table is made again with the current code over its training views, its held-out views are
rendered once, and then labelled and scored (as ``ns-panoptic eval`` does) once per ``--min-segment-area`` value
(``--pipeline.model.min-segment-area``: connected pieces of one label smaller than this fraction of the image
take the label of their nearest larger piece; 0 is off). Prints PQ^scene, things, stuff, mIoU, merges and splits
per run and value, and the change against 0 averaged over the runs.

    python benchmarks/postprocessing.py RUN/config.yml [RUN2/config.yml ...] [--min-segment-area 0 0.0005 0.001 0.002]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Dict, List

import torch
from rich.console import Console
from rich.table import Table

import this_checkout  # noqa: F401  (first: this checkout's package, not an installed copy)

from panoptic_nerfstudio.cli.trained_run import load_panoptic_run
from panoptic_nerfstudio.evaluation.scene_evaluation import evaluate_scene
from panoptic_nerfstudio.inference.instance_table import calibrate_from_dataset

COLUMNS = ("lifted_pq", "lifted_pq_things", "lifted_pq_stuff", "lifted_miou", "merges", "splits")


class RenderedOnce:
    """The model, with the distributions of the evaluation views rendered once and handed out in order."""

    def __init__(self, model, renders: List[Dict[str, torch.Tensor]]):
        self._model, self._renders, self._next = model, renders, 0
        self.training = False

    def __getattr__(self, name):
        return getattr(self._model, name)

    def get_distributions_for_camera(self, camera) -> Dict[str, torch.Tensor]:
        outputs = self._renders[self._next % len(self._renders)]
        self._next += 1
        return outputs


def score_run(config: Path, areas: List[float], console: Console) -> Dict[float, Dict[str, float]]:
    _, pipeline, model, _ = load_panoptic_run(config, test_mode="test")
    train = pipeline.datamanager.train_dataset
    calibrate_from_dataset(model, train)  # as at a checkpoint save
    dataset = pipeline.datamanager.eval_dataset
    model.eval()
    with torch.no_grad():
        renders = [model.get_distributions_for_camera(dataset.cameras[i : i + 1]) for i in range(len(dataset))]
    scores = {}
    for area in areas:
        model.config.min_segment_area = area
        metrics = evaluate_scene(RenderedOnce(model, renders), dataset).metrics()
        scores[area] = {key: float(metrics[key]) for key in COLUMNS + ("input_pq", "input_miou")}
        console.print(f"{config}: min-segment-area {area:g}: " + ", ".join(f"{k} {scores[area][k]:.1f}" for k in COLUMNS))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", type=Path, nargs="+", help="config.yml of trained panoptic-lifting runs")
    parser.add_argument("--min-segment-area", type=float, nargs="+", default=[0.0, 0.0005, 0.001, 0.002])
    args = parser.parse_args()
    console = Console(width=160)
    areas = sorted(set([0.0] + args.min_segment_area))
    results = {config: score_run(config, areas, console) for config in args.configs}

    table = Table(title="Small-segment clean-up (rendered once per run, labelled per threshold)")
    for column in ("run", "min-segment-area", "PQ^scene", "things", "stuff", "mIoU", "merges", "splits", "PQ input", "mIoU input"):
        table.add_column(column)
    for config, scores in results.items():
        for area, s in scores.items():
            table.add_row(
                str(config.parent) if area == areas[0] else "", f"{area:g}",
                *(f"{s[k]:.1f}" for k in COLUMNS[:4]), *(f"{s[k]:.0f}" for k in COLUMNS[4:]),
                f"{s['input_pq']:.1f}", f"{s['input_miou']:.1f}",
            )  # fmt: skip
    console.print(table)
    for area in areas[1:]:
        gain = {k: sum(r[area][k] - r[0.0][k] for r in results.values()) / len(results) for k in COLUMNS[:4]}
        console.print(f"min-segment-area {area:g} against 0, mean over runs: "
                      + ", ".join(f"{k} {v:+.1f}" for k, v in gain.items()))  # fmt: skip


if __name__ == "__main__":
    main()
