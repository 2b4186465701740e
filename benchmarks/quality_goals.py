"""Issue 17's goals, checked over the quality suite's runs: which are met, and by which runs or scenes not.

The goals (CPU preset, the suite's layouts, scene seeds and training seeds): every run PQ^scene >= 80; the mean >= 85;
the spread between a scene's training seeds <= 3 points; the lifted mIoU >= the 2D input's on every run, and >= the
input's + 10 where the input is as noisy as the default scene's; no stuff class lost, i.e. a stuff class's PQ from the
lifted field >= 0.9 x the input's. The last one is per class, so this table names the classes that miss it: what a
README figure such as "the floor misses it on 6 runs" comes from. ``quality.py`` prints it after the suite's tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Sequence

from rich.table import Table

MIN_PQ = 80.0
"""PQ^scene every run should reach."""
MIN_MEAN_PQ = 85.0
"""The suite's mean PQ^scene."""
MAX_SPREAD = 3.0
"""Points between the best and worst training seed of one scene."""
MIN_MIOU_GAIN_NOISY = 10.0
"""mIoU points over the input where the input's defects are at the default scene's rates (noise 1) or more."""
STUFF_SHARE = 0.9
"""A stuff class keeps at least this share of the input's per-class PQ."""


@dataclass(frozen=True)
class GoalRun:
    """One run of the suite, as the goals read it."""

    scene: str
    """Layout and scene seed (``thin-seed0``)."""
    train_seed: int
    """The run's ``--machine.seed``."""
    noise: float
    """Scale of the scene's simulated 2D-network defects (1: the default scene's rates)."""
    metrics: Dict
    """The run's ``metrics.json`` (``ns-panoptic eval``)."""
    stuff: Sequence[str]
    """Names of the scene's stuff classes."""

    @property
    def label(self) -> str:
        return f"{self.scene} / {self.train_seed}"


def lost_stuff(run: GoalRun) -> List[str]:
    """Stuff classes whose lifted PQ is under ``STUFF_SHARE`` of the input's, as ``name lifted/input``; classes the
    held-out frames do not show (PQ NaN) are left out."""
    lifted, given = run.metrics["per_category"]["lifted"], run.metrics["per_category"]["input"]
    lost = []
    for name in run.stuff:
        if name not in lifted or name not in given:
            continue
        pq, pq_input = lifted[name]["pq"], given[name]["pq"]
        if math.isnan(pq_input) or math.isnan(pq):
            continue
        if pq < STUFF_SHARE * pq_input:
            lost.append(f"{name} {pq:.0f}/{pq_input:.0f}")
    return lost


def _runs_row(goal: str, runs: Sequence[GoalRun], misses: Dict[str, str]) -> List[str]:
    met = len(runs) - len(misses)
    return [goal, f"{met} of {len(runs)} runs", "; ".join(f"{label}: {why}" for label, why in misses.items())]


def goal_rows(runs: Sequence[GoalRun]) -> List[List[str]]:
    """[goal, met, where not] for each of issue 17's goals over ``runs`` (one instance head's)."""
    if not runs:
        return []
    pq = {r.label: r.metrics["lifted_pq"] for r in runs}
    rows = [_runs_row(f"every run PQ^scene >= {MIN_PQ:g}", runs,
                      {label: f"{value:.1f}" for label, value in pq.items() if value < MIN_PQ})]  # fmt: skip
    mean = sum(pq.values()) / len(pq)
    rows.append([f"mean >= {MIN_MEAN_PQ:g}", "yes" if mean >= MIN_MEAN_PQ else "no", f"mean {mean:.1f}"])
    scenes = sorted({r.scene for r in runs})
    spread = {}
    for scene in scenes:
        values = [r.metrics["lifted_pq"] for r in runs if r.scene == scene]
        if len(values) > 1:
            spread[scene] = max(values) - min(values)
    wide = {scene: f"{value:.1f}" for scene, value in spread.items() if value > MAX_SPREAD}
    rows.append([f"spread between training seeds <= {MAX_SPREAD:g}", f"{len(spread) - len(wide)} of {len(spread)} "
                 "scenes", "; ".join(f"{scene}: {value}" for scene, value in wide.items())])  # fmt: skip
    gain = {r.label: r.metrics["lifted_miou"] - r.metrics["input_miou"] for r in runs}
    rows.append(_runs_row("lifted mIoU >= input mIoU", runs,
                          {label: f"{value:+.1f}" for label, value in gain.items() if value < 0}))  # fmt: skip
    noisy = [r for r in runs if r.noise >= 1.0]
    rows.append(_runs_row(f"lifted mIoU >= input + {MIN_MIOU_GAIN_NOISY:g} (default noise)", noisy,
                          {r.label: f"{gain[r.label]:+.1f}" for r in noisy
                           if gain[r.label] < MIN_MIOU_GAIN_NOISY}))  # fmt: skip
    per_class = [r for r in runs if "per_category" in r.metrics]  # runs evaluated before it was stored: left out
    lost = {r.label: ", ".join(lost_stuff(r)) for r in per_class}
    rows.append(_runs_row(f"stuff classes keep >= {STUFF_SHARE:g} x the input's PQ", per_class,
                          {label: why for label, why in lost.items() if why}))  # fmt: skip
    return rows


def goals_table(runs_by_head: Dict[str, Sequence[GoalRun]]) -> Table:
    """Issue 17's goals per instance head; "where not" names the runs (scene / training seed) or scenes that miss
    them, with their figure (a lost stuff class as lifted PQ / input PQ)."""
    table = Table(title="Issue 17's goals", show_lines=True)
    for column in ("head", "goal", "met", "where not"):
        table.add_column(column, overflow="fold")
    for head, runs in runs_by_head.items():
        for row in goal_rows(runs):
            table.add_row(head, *row)
    return table
