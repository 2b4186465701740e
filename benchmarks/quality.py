"""Scene-level quality of the CPU preset on a suite of scenes and training seeds, plus the paper's ablations.

The method's settings were chosen on the default demo scene, so one scene proves nothing: a result counts
when it holds on scenes and training seeds it was not tuned on. Every run is what a user runs:
``ns-train panoptic-lifting-lite`` on a demo scene (layout x scene seed) with a training seed
(``--machine.seed``), then ``ns-panoptic eval`` on its held-out frames. Runs whose ``metrics.json`` exists under
``--out`` are reused, so an interrupted benchmark picks up where it stopped; with ``--recalibrate`` their instance
tables are made again with the current code and they are evaluated again (inference changes need no training).

    python benchmarks/quality.py --jobs 2                     # the suite (3 layouts x 2 scene seeds x 2 training
                                                              # seeds) and the ablations on the default scene
    python benchmarks/quality.py --no-ablations --layouts thin   # one layout's rows only
    python benchmarks/quality.py --no-ablations --train-seeds 42 --variant "head grid up to resolution 1024"
                                                              # one ablation on every scene of the suite
    python benchmarks/quality.py --no-ablations --layouts default crowded many --scene-seeds 0 \
        --train-seeds 42 0 1 --heads slots contrastive        # both instance heads, three training seeds each

It prints one row per run (PQ^scene, things, stuff, mIoU of lifted field and 2D input, merges, splits, seconds per
step), then per scene the spread between training seeds, and the worst run and the mean, then per scene the objects
PQ^scene leaves unmatched, by cause (lost to stuff, partly labelled, merged, wrong class), then issue 17's goals:
which are met, and the runs, scenes or stuff classes that miss them (``quality_goals.py``); it writes
``results.json`` and, per scene, a picture (image | 2D input | lifted, a column per head | ground truth, a few eval
frames).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))  # (when loaded as a module by the tests)
from this_checkout import CHECKOUT, environment  # noqa: E402  (first: this checkout's package, not an installed one)

from lite_runs import run_config, training_arguments  # noqa: E402

from panoptic_nerfstudio.data.panoptic_format import read_classes  # noqa: E402
from panoptic_nerfstudio.data.scene_layout import CLASSES_FILENAME  # noqa: E402
from panoptic_nerfstudio.demo_scene import DemoSceneConfig, write_demo_scene  # noqa: E402
from panoptic_nerfstudio.evaluation.unmatched_segments import MISSED_CAUSES, metric_key  # noqa: E402
from quality_goals import GoalRun, goals_table  # noqa: E402
from quality_pictures import write_scene_picture  # noqa: E402

ABLATIONS: Dict[str, Tuple[str, ...]] = {
    "full method": (),
    "no linear assignment (naive ids)": ("--pipeline.model.instance-matching", "naive"),
    "no segment consistency loss": ("--pipeline.model.consistency-loss-mult", "0"),
    "no confidence weighting": ("--pipeline.model.use-confidence", "False"),
    "no gradient stopping": ("--pipeline.model.stop-segmentation-gradients", "False"),
    "unbounded fields (logits rendered)": ("--pipeline.model.bounded-fields", "False"),
    "no spatial split of slots": ("--pipeline.model.split-slots", "False"),
    "no split of slots by the 2D masks": ("--pipeline.model.split-by-masks", "False"),
    "thing pixels beyond reach stay things (no rule 6)": ("--pipeline.model.stuff-beyond-reach", "False"),
    "far plane 1000 (nerfacto's)": ("--pipeline.model.far-plane", "1000"),
    "near plane 0 when rendering (nerfstudio's)": ("--pipeline.model.render-near-plane", "0"),
    "class head also on the backbone's features": ("--pipeline.model.heads.semantic-reads-backbone", "True"),
    "head grid up to resolution 1024": ("--pipeline.model.heads.max-res", "1024"),
    "slow-fast target (contrastive head)": ("--pipeline.model.contrastive.slow-target-momentum", "0.9"),
    "opacity loss 0.01": ("--pipeline.model.opacity-loss-mult", "0.01"),
    "no limit on the groups covering things": ("--pipeline.datamanager.ray-sampler.max-cover-share", "1",
                                               "--pipeline.datamanager.ray-sampler.busy-cover-share", "1"),
    "a quarter of the groups covering things": ("--pipeline.datamanager.ray-sampler.max-cover-share", "0.25"),
    "half of the groups covering the things of busy frames": (
        "--pipeline.datamanager.ray-sampler.busy-cover-share", "0.5"),
    "error map x4": ("--pipeline.datamanager.ray-sampler.error-map-candidates", "4"),
    "error map x4 stuff only": ("--pipeline.datamanager.ray-sampler.error-map-candidates", "4",
                                "--pipeline.datamanager.ray-sampler.error-map-stuff-only", "True"),
}
ABLATION_HEADS: Dict[str, str] = {
    "slow-fast target (contrastive head)": "contrastive",
    "no limit on the groups covering things": "contrastive",
    "a quarter of the groups covering things": "contrastive",
    "half of the groups covering the things of busy frames": "contrastive",
}
"""Ablations of one instance head: their row trains that head (every other ablation row trains the slots)."""
ABLATION_LAYOUTS: Dict[str, str] = {
    "no limit on the groups covering things": "many",
    "a quarter of the groups covering things": "many60",
    "half of the groups covering the things of busy frames": "many60",
    "error map x4": "thin",
    "error map x4 stuff only": "thin",
}
"""Ablations that change nothing on the default room, or were made for another: their row trains the layout where they
act (the default room's frames show at most 11 things, fewer than the half of the 48 groups the limit leaves to things;
the error map was made for the thin room's structures)."""
HEADS: Dict[str, Tuple[str, ...]] = {
    "slots": (),
    "contrastive": ("--pipeline.model.instance-head", "contrastive"),
}
"""The instance heads (``--heads``): the paper's K slots, and contrastive embeddings clustered after training."""
DEFAULT_TRAIN_SEED = 42
"""nerfstudio's default ``--machine.seed``."""


@dataclass(frozen=True)
class Run:
    layout: str
    scene_seed: int
    train_seed: int
    variant: str = "full method"
    noise: float = 1.0
    head: str = "slots"

    @property
    def scene(self) -> str:
        noise = "" if self.noise == 1.0 else f"-noise{self.noise:g}"
        return f"{self.layout}-seed{self.scene_seed}{noise}"

    @property
    def slug(self) -> str:
        return self.variant.split(" (")[0].replace(" ", "-")

    @property
    def name(self) -> str:
        head = "" if self.head == "slots" else f"-{self.head}"
        return f"{self.scene}-train{self.train_seed}-{self.slug}{head}"

    @property
    def picture_name(self) -> str:
        """The scene's picture: the scene's name for the full method, else with the variant."""
        return self.scene if self.variant == "full method" else f"{self.scene}-{self.slug}"


def run_environment(threads: int) -> Dict[str, str]:
    """The environment of a run's commands: one torch thread per core given to the run (oversubscribed threads slow
    CPU training several-fold), and this checkout's package first on the path (``this_checkout``)."""
    return environment(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))


def bin_path(tool: str) -> str:
    return str(Path(sys.executable).with_name(tool))


def scene_dir(run: Run, out: Path) -> Path:
    scene = out / "scenes" / run.scene
    if not (scene / "transforms.json").exists():
        write_demo_scene(scene, DemoSceneConfig(seed=run.scene_seed, noise=run.noise, layout=run.layout))
    return scene


def evaluate(run_dir: Path, env: Dict[str, str]) -> Dict:
    """``ns-panoptic eval`` of a trained run on its held-out frames; its metrics."""
    config = run_config(run_dir)
    subprocess.run(
        [bin_path("ns-panoptic"), "eval", "--load-config", str(config), "--output-dir", str(run_dir / "eval")],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    return json.loads((run_dir / "eval" / "metrics.json").read_text())


def recalibrate_and_evaluate(run_dir: Path, env: Dict[str, str], console: Console) -> Dict:
    """A finished run's instance table made again with the current code (``recalibrate.py``), then evaluated again;
    its training time is kept. Training is what inference-side changes leave alone."""
    metrics_file = run_dir / "eval" / "metrics.json"
    before = json.loads(metrics_file.read_text())
    commit = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=7"], capture_output=True, text=True,
                            cwd=CHECKOUT).stdout.strip()  # fmt: skip
    # Done with this code already (an interrupted benchmark); uncommitted code may have changed since: do it again.
    if commit and not commit.endswith("-dirty") and before.get("recalibrated_at") == commit:
        return before
    console.print(f"[bold]{run_dir.name}[/bold]: recalibrating")
    config = run_config(run_dir)
    recalibrate = str(Path(__file__).with_name("recalibrate.py"))
    subprocess.run([sys.executable, recalibrate, str(config)], check=True, stdout=subprocess.DEVNULL, env=env)
    metrics = evaluate(run_dir, env)
    kept = {k: before[k] for k in ("train_seconds", "steps", "trained_by") if k in before}
    metrics.update(kept, recalibrated_at=commit or "unknown")
    metrics_file.write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def train_and_evaluate(
    run: Run, out: Path, steps: Optional[int], threads: int, console: Console, recalibrate: bool = False
) -> Dict:
    run_dir = out / "runs" / run.name
    metrics_file = run_dir / "eval" / "metrics.json"
    env = run_environment(threads)
    if metrics_file.exists():
        return recalibrate_and_evaluate(run_dir, env, console) if recalibrate else json.loads(metrics_file.read_text())
    scene = scene_dir(run, out)
    console.print(f"[bold]{run.name}[/bold]: training")
    command = [bin_path("ns-train"), *training_arguments(scene, run_dir, run.train_seed, steps),
               *ABLATIONS[run.variant], *HEADS[run.head]]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    seconds = time.perf_counter() - start
    metrics = evaluate(run_dir, env)
    metrics["train_seconds"] = seconds
    metrics["steps"] = steps or 4000
    metrics_file.write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def plan(
    layouts: List[str],
    scene_seeds: List[int],
    train_seeds: List[int],
    ablations: bool,
    heads: Tuple[str, ...] = ("slots",),
    variant: str = "full method",
    noise: float = 1.0,
) -> List[Run]:
    """The suite's runs (every head, layout, scene seed and training seed; their scenes' defects scaled by ``noise``),
    then, with ``ablations``, one row per ablation on the scene where it acts."""
    runs = [
        Run(layout, s, t, variant, noise, head)
        for head in heads
        for layout in layouts
        for s in scene_seeds
        for t in train_seeds
    ]
    if ablations:
        runs += [Run(ABLATION_LAYOUTS.get(variant, "default"), 0, DEFAULT_TRAIN_SEED, variant,
                     head=ABLATION_HEADS.get(variant, "slots"))
                 for variant in ABLATIONS if variant != "full method"]  # fmt: skip
    return runs


def runs_table(rows: List[Tuple[Run, Dict]]) -> Table:
    table = Table(title="PQ^scene on held-out frames (panoptic-lifting-lite)")
    columns = ("scene", "train seed", "variant", "head", "PQ input", "PQ lifted", "things", "stuff", "mIoU input",
               "mIoU lifted", "PQ input, lifted (authors')", "merges (masks apart)", "splits", "objects",
               "s/step")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column in ("scene", "variant") else "right")
    for run, m in rows:
        table.add_row(
            run.scene, str(run.train_seed), run.variant, run.head,
            *(f"{m[k]:.1f}" for k in ("input_pq", "lifted_pq", "lifted_pq_things", "lifted_pq_stuff", "input_miou",
                                     "lifted_miou")),
            authors_cell(m), merges_cell(m), str(m.get("splits", "")), str(m.get("objects", "")),
            f"{m.get('train_seconds', float('nan')) / m.get('steps', 4000):.3f}",
        )  # fmt: skip
    return table


def authors_cell(m: Dict) -> str:
    """PQ^scene of the input and the lifted field by the authors' protocol (classes under 0.5% of the pixels left
    out, ``evaluation/panoptic_quality.py``); empty for runs evaluated before it was reported."""
    if "lifted_pq_authors" not in m:
        return ""
    return f"{m['input_pq_authors']:.1f}, {m['lifted_pq_authors']:.1f}"


def merges_cell(m: Dict) -> str:
    """Merged objects, and in brackets those of pairs the 2D masks keep apart (runs evaluated since it is counted)."""
    apart = m.get("merges_kept_apart_by_masks")
    return str(m.get("merges", "")) + ("" if apart is None else f" ({apart})")


def summary_table(rows: List[Tuple[Run, Dict]], variant: str = "full method") -> Table:
    """Per scene and instance head: mean, worst and spread over training seeds, mean PQ things and merges; then the
    suite's worst run and mean (the runs of ``variant``)."""
    table = Table(title=f"Suite summary ({variant}): PQ^scene lifted")
    for column in ("scene", "head", "runs", "mean", "worst", "spread", "things (mean)", "merges (mean)",
                   "mIoU lifted - input (worst)"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("scene", "head") else "right")
    suite = [(r, m) for r, m in rows if r.variant == variant]
    for scene, head in sorted({(r.scene, r.head) for r, _ in suite}):
        mine = [m for r, m in suite if r.scene == scene and r.head == head]
        pq = [m["lifted_pq"] for m in mine]
        gain = [m["lifted_miou"] - m["input_miou"] for m in mine]
        things = sum(m["lifted_pq_things"] for m in mine) / len(mine)
        merges = sum(float(m.get("merges", 0)) for m in mine) / len(mine)
        table.add_row(scene, head, str(len(pq)), f"{sum(pq) / len(pq):.1f}", f"{min(pq):.1f}",
                      f"{max(pq) - min(pq):.1f}", f"{things:.1f}", f"{merges:.1f}", f"{min(gain):+.1f}")  # fmt: skip
    if suite:
        pq = [m["lifted_pq"] for _, m in suite]
        gain = [m["lifted_miou"] - m["input_miou"] for _, m in suite]
        table.add_row("[bold]all", "", str(len(pq)), f"{sum(pq) / len(pq):.1f}", f"{min(pq):.1f}", "", "", "",
                      f"{min(gain):+.1f}")  # fmt: skip
    return table


def unmatched_table(rows: List[Tuple[Run, Dict]], variant: str = "full method") -> Table:
    """Per scene and instance head: objects over all runs, and those PQ^scene leaves unmatched by cause
    (``evaluation/unmatched_segments.py``); runs evaluated before the causes were counted are left out."""
    table = Table(title=f"Objects PQ^scene leaves unmatched, by where most of their pixels went ({variant})")
    keys = [metric_key("missed", cause) for cause in MISSED_CAUSES]
    for column in ("scene", "head", "runs", "objects", "unmatched", *MISSED_CAUSES):
        table.add_column(column, justify="left" if column in ("scene", "head") else "right")
    counted = [(r, m) for r, m in rows if r.variant == variant and keys[0] in m]
    groups = sorted({(r.scene, r.head) for r, _ in counted}) + [("[bold]all", "")]
    for scene, head in groups:
        mine = [m for r, m in counted if (r.scene, r.head) == (scene, head) or scene == "[bold]all"]
        by_cause = [sum(int(m[key]) for m in mine) for key in keys]
        objects = sum(int(m.get("objects", 0)) for m in mine)
        table.add_row(scene, head, str(len(mine)), str(objects), str(sum(by_cause)), *map(str, by_cause))
    return table


def goal_runs(rows: List[Tuple[Run, Dict]], out: Path, variant: str = "full method") -> Dict[str, List[GoalRun]]:
    """The runs of ``variant`` per instance head, with their scenes' stuff classes, for issue 17's goals."""
    by_head: Dict[str, List[GoalRun]] = {}
    for run, m in rows:
        if run.variant != variant:
            continue
        classes = read_classes(scene_dir(run, out) / CLASSES_FILENAME)
        stuff = [c.name for c in classes.categories if not c.isthing]
        by_head.setdefault(run.head, []).append(GoalRun(run.scene, run.train_seed, run.noise, m, stuff))
    return by_head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/quality-runs"))
    parser.add_argument("--layouts", nargs="*", default=["default", "crowded", "thin"])
    parser.add_argument("--scene-seeds", type=int, nargs="*", default=[0, 1])
    parser.add_argument("--train-seeds", type=int, nargs="*", default=[DEFAULT_TRAIN_SEED, 0])
    parser.add_argument("--ablations", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--heads", nargs="*", default=["slots"], choices=list(HEADS), help="instance heads of the suite")
    parser.add_argument("--variant", default="full method", choices=list(ABLATIONS),
                        help="train the suite's runs with one ablation's settings instead of the full method")
    parser.add_argument("--noise", type=float, default=1.0,
                        help="scale of the suite scenes' simulated 2D-network defects; 0 gives masks equal to the "
                             "ground truth (up to per-frame ids): what the field and the camera path allow")
    parser.add_argument("--steps", type=int, default=None, help="override the preset's training steps")
    parser.add_argument("--recalibrate", action="store_true",
                        help="runs already trained: make their instance tables again with the current code "
                             "(recalibrate.py) and evaluate them again, instead of reading their metrics")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once, each with cores / jobs torch threads")
    args = parser.parse_args()
    console = Console(width=200)  # a table wider than 80 columns, also when written to a file
    runs = plan(args.layouts, args.scene_seeds, args.train_seeds, args.ablations, tuple(args.heads), args.variant,
                args.noise)
    for run in runs:  # scenes first, so parallel runs never write the same one
        scene_dir(run, args.out)
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    with ThreadPoolExecutor(args.jobs) as pool:
        results = pool.map(
            lambda run: train_and_evaluate(run, args.out, args.steps, threads, console, args.recalibrate), runs
        )
        rows = list(zip(runs, results))
    console.print(runs_table(rows))
    console.print(summary_table(rows, args.variant))
    console.print(unmatched_table(rows, args.variant))
    console.print(goals_table(goal_runs(rows, args.out, args.variant)))
    for scene in sorted({r.scene for r, _ in rows}):
        first = next(r for r, _ in rows if r.scene == scene and r.variant == args.variant)
        # one lifted column per head, all of the first run's training seed: with one seed, the heads of one field
        runs_of_heads = [r for r, _ in rows if r.scene == scene and r.variant == args.variant
                         and r.train_seed == first.train_seed]  # fmt: skip
        picture = write_scene_picture(scene_dir(first, args.out),
                                      [args.out / "runs" / r.name / "eval" / "pred" for r in runs_of_heads],
                                      args.out / "pictures" / f"{first.picture_name}.png")  # fmt: skip
        console.print(f"picture: {picture} (lifted: {', '.join(r.head for r in runs_of_heads)})")
    (args.out / "results.json").write_text(json.dumps([{**asdict(r), **m} for r, m in rows], indent=2) + "\n")


if __name__ == "__main__":
    main()
