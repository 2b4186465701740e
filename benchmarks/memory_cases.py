"""Large scenes for ``benchmarks/memory.py``: load *and train* a ScanNet-sized and a Hypersim-sized scene, with the
pixels in memory (``--pipeline.datamanager.cache-images cpu``) or memory-mapped from disk (``disk``).

Each row runs in a process of its own (``--train-steps N --json FILE``), so that its peaks are its own: the
pipeline is set up exactly as ``ns-train panoptic-lifting-lite`` sets it up (datamanager, both splits' ray stores,
model), then trained for N steps with nerfstudio's optimizers. A thread samples /proc/self/status every 20 ms for
the peaks of the resident set (VmRSS) and of its anonymous part (RssAnon: what the kernel cannot evict; the disk
cache's pages are file-backed, so the kernel can drop them under memory pressure and read them again).
``--all`` writes the scenes once, runs every row and prints the table and what a 24 GiB machine holds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List

from rich.console import Console
from rich.table import Table

CASES = {
    "default": (640, 480, 300),
    "scannet": (640, 480, 1200),  # 1,050 training + 150 held-out frames
    "hypersim": (1024, 768, 100),
}
"""Scene sizes (width, height, frames) of the benchmark's cases."""
ROWS = [("scannet", "cpu"), ("scannet", "disk"), ("hypersim", "cpu"), ("hypersim", "disk")]
GIB = 2**30
MACHINE = 24 * GIB
TARGET = 8 * GIB


def _status() -> Dict[str, int]:
    """VmRSS, RssAnon and RssFile of this process in bytes (Linux)."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    return values


class PeakSampler(threading.Thread):
    """Samples this process's memory every ``interval`` seconds and keeps the maxima."""

    def __init__(self, interval: float = 0.02):
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
        self.running = True

    def run(self) -> None:
        while self.running:
            self.sample()
            time.sleep(self.interval)

    def sample(self) -> Dict[str, int]:
        now = _status()
        for key in self.peak:
            self.peak[key] = max(self.peak[key], now.get(key, 0))
        return now

    def peaks(self) -> Dict[str, int]:
        self.sample()
        return {**self.peak, "VmHWM": _status().get("VmHWM", 0)}


def measure_row(scene: Path, cache_images: str, cache_dir: Path | None, steps: int, rays: int) -> Dict:
    """Set up the lite pipeline on ``scene`` and train ``steps`` steps; sizes, times and memory peaks."""
    import torch
    from nerfstudio.engine.optimizers import Optimizers

    from panoptic_nerfstudio.method_configs import panoptic_lifting_lite_config

    sampler = PeakSampler()
    baseline = sampler.sample()
    sampler.start()
    config = panoptic_lifting_lite_config()
    datamanager = config.pipeline.datamanager
    datamanager.data = scene
    datamanager.cache_images = cache_images  # type: ignore[assignment]
    datamanager.cache_dir = cache_dir
    datamanager.train_num_rays_per_batch = rays
    start = time.perf_counter()
    pipeline = config.pipeline.setup(device="cpu", test_mode="val")
    load_seconds = time.perf_counter() - start
    loaded = sampler.peaks()
    stores = [pipeline.datamanager.train_dataset.store, pipeline.datamanager.eval_dataset.store]
    optimizers = Optimizers(config.optimizers, pipeline.get_param_groups())
    pipeline.train()
    start = time.perf_counter()
    for step in range(steps):
        pipeline.model.train_step = step
        _, losses, _ = pipeline.get_train_loss_dict(step)
        optimizers.zero_grad_all()
        torch.stack(list(losses.values())).sum().backward()
        optimizers.optimizer_step_all()
    train_seconds = time.perf_counter() - start
    sampler.running = False
    return {
        "frames": [s.num_frames for s in stores],
        "size": [int(stores[0].widths[0]), int(stores[0].heights[0])],
        "pixels": sum(s.num_pixels for s in stores),
        "store_bytes": sum(s.nbytes() for s in stores),
        "baseline": baseline,
        "loaded": loaded,
        "peak": sampler.peaks(),
        "load_seconds": load_seconds,
        "step_seconds": train_seconds / max(steps, 1),
        "steps": steps,
        "cache_images": cache_images,
    }


def run_all(write_scene: Callable[..., None], unique: int, eval_every: int, steps: int, rays: int) -> None:
    """Write the scenes, measure every row in its own process, print the table."""
    console = Console(width=160)
    results: List[Dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in dict.fromkeys(case for case, _ in ROWS):
            width, height, frames = CASES[case]
            scene = Path(tmp) / case / "scene"
            start = time.perf_counter()
            write_scene(scene, width, height, frames, unique, eval_every)
            seconds = time.perf_counter() - start
            console.print(f"{case}: scene of {frames} frames at {width}x{height} written in {seconds:.0f} s")
        for case, cache in ROWS:
            out = Path(tmp) / f"{case}-{cache}.json"
            command = [sys.executable, str(Path(__file__).with_name("memory.py")), "--case", case, "--scene",
                       str(Path(tmp) / case / "scene"), "--cache-images", cache, "--cache-dir", tmp,
                       "--train-steps", str(steps), "--rays", str(rays), "--json", str(out)]  # fmt: skip
            console.print(f"measuring {case} with --cache-images {cache} ...")
            subprocess.run(command, check=True)
            results.append({"case": case, **json.loads(out.read_text())})
    console.print(results_table(results))
    for line in capacity_lines(results):
        console.print(line)


def results_table(results: List[Dict]) -> Table:
    table = Table(title=f"Loading and training panoptic-lifting-lite: peak memory ({results[0]['steps']} steps)")
    for column in ("scene", "frames (train + eval)", "cache-images", "ray store", "load", "s/step",
                   "peak RSS", "peak anonymous", f"under {TARGET // GIB} GiB"):  # fmt: skip
        table.add_column(column, justify="left" if column == "scene" else "right")
    for r in results:
        width, height = r["size"]
        peak, anon = r["peak"]["VmHWM"], r["peak"]["RssAnon"]
        table.add_row(
            f"{r['case']} ({width}x{height})", " + ".join(map(str, r["frames"])), r["cache_images"],
            f"{r['store_bytes'] / GIB:.2f} GiB", f"{r['load_seconds']:.0f} s", f"{r['step_seconds']:.2f}",
            f"{peak / GIB:.2f} GiB", f"{anon / GIB:.2f} GiB", "yes" if peak < TARGET else "no",
        )  # fmt: skip
    return table


def capacity_lines(results: List[Dict]) -> List[str]:
    """Frames a 24 GiB machine holds, from the measured rows: what does not grow with the scene (interpreter,
    torch, model, one decoded frame) is the peak minus the ray store; each frame adds its store bytes."""
    lines = []
    for r in results:
        width, height = r["size"]
        per_frame = r["store_bytes"] / sum(r["frames"])
        if r["cache_images"] == "cpu":
            fixed = r["peak"]["VmHWM"] - r["store_bytes"]
            fits = int((MACHINE - fixed) / per_frame)
            lines.append(f"{r['case']}, cpu: {fits:,} frames at {width}x{height} fit in 24 GiB "
                         f"({per_frame / 2**20:.1f} MiB per frame in memory, {fixed / GIB:.2f} GiB besides)")
        else:
            fixed = r["peak"]["RssAnon"]
            lines.append(f"{r['case']}, disk: memory that cannot be evicted stays {fixed / GIB:.2f} GiB; "
                         f"{per_frame / 2**20:.1f} MiB per frame on disk, held in the page cache while it fits "
                         f"(about {int((MACHINE - fixed) / per_frame):,} frames in 24 GiB)")
    return lines
