"""Scene-level quality of the CPU preset: 2D input vs lifted, over seeds and noise levels, plus the paper's ablations.

Every run is what a user runs: ``ns-train panoptic-lifting-lite`` on a demo scene
(with the ablation's flag, if any, and nerfstudio's default training seed), then
``ns-panoptic eval`` on its held-out frames; the full method on the default scene
is exactly what ``make demo`` trains. Runs whose ``metrics.json`` already exists under ``--out`` are reused, so
an interrupted benchmark picks up where it stopped.

    python benchmarks/quality.py                      # default scene: full method + 5 ablations; 2 more seeds; 2 noise levels
    python benchmarks/quality.py --seeds 0 --noise 1.0      # only the ablation table
    python benchmarks/quality.py --jobs 2                   # two runs at once, one torch thread each
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from rich.console import Console
from rich.table import Table

from panoptic_nerfstudio.demo_scene import DemoSceneConfig, write_demo_scene

ABLATIONS: Dict[str, Tuple[str, ...]] = {
    "full method": (),
    "no linear assignment (naive ids)": ("--pipeline.model.instance-matching", "naive"),
    "no segment consistency loss": ("--pipeline.model.consistency-loss-mult", "0"),
    "no confidence weighting": ("--pipeline.model.use-confidence", "False"),
    "no gradient stopping": ("--pipeline.model.stop-segmentation-gradients", "False"),
    "unbounded fields (logits rendered)": ("--pipeline.model.bounded-fields", "False"),
}


@dataclass
class Run:
    seed: int
    noise: float
    variant: str

    @property
    def name(self) -> str:
        slug = self.variant.split(" (")[0].replace(" ", "-")
        return f"seed{self.seed}-noise{self.noise:g}-{slug}"


def bin_path(tool: str) -> str:
    return str(Path(sys.executable).with_name(tool))


def scene_for(run: Run, out: Path) -> Path:
    scene = out / "scenes" / f"seed{run.seed}-noise{run.noise:g}"
    if not (scene / "transforms.json").exists():
        write_demo_scene(scene, DemoSceneConfig(seed=run.seed, noise=run.noise))
    return scene


def train_and_evaluate(run: Run, out: Path, steps: Optional[int], threads: int, console: Console) -> Dict[str, float]:
    run_dir = out / "runs" / run.name
    metrics_file = run_dir / "eval" / "metrics.json"
    if metrics_file.exists():
        return json.loads(metrics_file.read_text())
    scene = scene_for(run, out)
    console.print(f"[bold]{run.name}[/bold]: training")
    command = [
        bin_path("ns-train"), "panoptic-lifting-lite", "--data", str(scene), "--output-dir", str(run_dir),
        "--experiment-name", "scene", "--timestamp", "run", "--viewer.quit-on-train-completion", "True",
        *ABLATIONS[run.variant],
    ]
    if steps is not None:
        command += ["--max-num-iterations", str(steps)]
    # One torch thread per core given to this run: oversubscribed threads slow CPU training several-fold.
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    minutes = (time.perf_counter() - start) / 60
    config = run_dir / "scene" / "panoptic-lifting-lite" / "run" / "config.yml"
    subprocess.run(
        [bin_path("ns-panoptic"), "eval", "--load-config", str(config), "--output-dir", str(run_dir / "eval")],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    metrics = json.loads(metrics_file.read_text())
    metrics["train_minutes"] = minutes
    metrics_file.write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def plan(seeds: List[int], noises: List[float], ablations: bool) -> List[Run]:
    default = DemoSceneConfig()
    runs = [Run(default.seed, default.noise, variant) for variant in (ABLATIONS if ablations else ["full method"])]
    runs += [Run(seed, default.noise, "full method") for seed in seeds if seed != default.seed]
    runs += [Run(default.seed, noise, "full method") for noise in noises if noise != default.noise]
    return runs


def results_table(rows: List[Tuple[Run, Dict[str, float]]]) -> Table:
    table = Table(title="PQ^scene on the held-out frames of demo scenes (panoptic-lifting-lite)")
    columns = ("scene", "variant", "PQ input", "PQ lifted", "PQ things", "PQ stuff", "mIoU input", "mIoU lifted",
               "PSNR", "train min")
    for column in columns:
        table.add_column(column, justify="left" if column in ("scene", "variant") else "right")
    for run, m in rows:
        table.add_row(
            f"seed {run.seed}, noise {run.noise:g}", run.variant,
            *(f"{m[k]:.1f}" for k in ("input_pq", "lifted_pq", "lifted_pq_things", "lifted_pq_stuff", "input_miou",
                                     "lifted_miou")),
            f"{m['psnr']:.2f}", f"{m.get('train_minutes', float('nan')):.1f}",
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/quality-runs"))
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--noise", type=float, nargs="*", default=[0.5, 1.0, 1.5])
    parser.add_argument("--ablations", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--steps", type=int, default=None, help="override the preset's training steps")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once, each with cores / jobs torch threads")
    args = parser.parse_args()
    console = Console()
    runs = plan(args.seeds, args.noise, args.ablations)
    for run in runs:  # scenes first, so parallel runs never write the same one
        scene_for(run, args.out)
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    with ThreadPoolExecutor(args.jobs) as pool:
        results = pool.map(lambda run: train_and_evaluate(run, args.out, args.steps, threads, console), runs)
        rows = list(zip(runs, results))
    console.print(results_table(rows))
    (args.out / "results.json").write_text(
        json.dumps([{"seed": r.seed, "noise": r.noise, "variant": r.variant, **m} for r, m in rows], indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
