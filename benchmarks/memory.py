"""Resident memory of a large scene's training data: 300 frames at 640 x 480 with masks resident.

The scene is loaded exactly as ``ns-train`` loads it: our dataparser, the datamanager, the datasets'
ray stores (train and eval), all frames decoded. We report the resident-set growth of this process
(psutil) and the ray store's own byte count, each with and without the images' RGB bytes. The target
(issue 8) is under 2 GB beyond the images.

The demo scene generator ray-traces every frame (about a second per 640 x 480 frame here), so by default
it renders ``--unique`` distinct frames and the scene repeats them (hard links) under 300 names with
their cameras cycled: the data path and the stored bytes per frame are those of real demo frames.
``--unique 300`` renders every frame.

    python benchmarks/memory.py [--size 640x480] [--frames 300] [--unique 24]

Large scenes, loaded and trained (``memory_cases.py``): a ScanNet-sized case (1,200 frames at 640 x 480) and a
Hypersim-sized one (100 frames at 1024 x 768), each with ``--pipeline.datamanager.cache-images cpu`` and ``disk``:

    python benchmarks/memory.py --all [--train-steps 20]
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

import this_checkout  # noqa: F401  (first: this checkout's package, not an installed copy)

from panoptic_nerfstudio.cli.demo_data_command import parse_size
from panoptic_nerfstudio.demo_scene import DemoSceneConfig, write_demo_scene
from panoptic_nerfstudio.data.panoptic_datamanager import PanopticDataManagerConfig
from panoptic_nerfstudio.data.panoptic_dataparser import PanopticDataParserConfig
from panoptic_nerfstudio.data.ray_store import RayStore

from memory_cases import CASES, measure_row, results_table, run_all  # noqa: E402 (a script beside this one)

TARGET_BYTES = 2 * 10**9
LAYERS = (("images", ".png"), ("panoptic", ".png"), ("panoptic", ".json"), ("confidence", ".png"))


def write_scene(out: Path, width: int, height: int, frames: int, unique: int, eval_every: int) -> None:
    """A demo scene of ``frames`` frames built from ``unique`` rendered ones (hard links, cameras cycled)."""
    rendered = out.parent / "rendered"
    unique = min(unique, frames)
    write_demo_scene(rendered, DemoSceneConfig(width=width, height=height, frames=unique, eval_every=eval_every))
    meta = json.loads((rendered / "transforms.json").read_text())
    source_frames = meta["frames"]
    for folder, _ in LAYERS:
        (out / folder).mkdir(parents=True, exist_ok=True)
    names, new_frames = [], []
    for k in range(frames):
        source = source_frames[k % unique]
        stem, source_stem = f"frame_{k:05d}", Path(source["file_path"]).stem
        for folder, ext in LAYERS:
            os.link(rendered / folder / f"{source_stem}{ext}", out / folder / f"{stem}{ext}")
        names.append(f"images/{stem}.png")
        new_frames.append({**source, "file_path": names[-1]})
    held_out = names[::eval_every]
    meta.update(
        frames=new_frames,
        train_filenames=[n for n in names if n not in set(held_out)],
        val_filenames=held_out,
        test_filenames=held_out,
    )
    (out / "transforms.json").write_text(json.dumps(meta))
    os.link(rendered / "panoptic_classes.json", out / "panoptic_classes.json")


def release_free_heap() -> bool:
    """Ask glibc to return freed heap pages to the OS (what is left is live data); False where unavailable."""
    name = ctypes.util.find_library("c")
    try:
        return bool(ctypes.CDLL(name).malloc_trim(0)) or True
    except (OSError, AttributeError, TypeError):
        return False


def store_bytes(store: RayStore) -> tuple[int, int]:
    """(image bytes, everything else) held by a ray store."""
    image = store.rgb.numel() * store.rgb.element_size()
    return image, store.nbytes() - image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="640x480", help="WIDTHxHEIGHT")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--unique", type=int, default=24, help="distinct frames rendered by the demo generator")
    parser.add_argument("--eval-every", type=int, default=8)
    parser.add_argument("--all", action="store_true", help="the large-scene rows, loaded and trained (memory_cases.py)")
    parser.add_argument("--case", choices=sorted(CASES), help="a preset size and frame count (overrides the two)")
    parser.add_argument("--train-steps", type=int, default=0, help="also set up the pipeline and train this many steps")
    parser.add_argument("--rays", type=int, default=1024, help="rays per training step")
    parser.add_argument("--cache-images", choices=["cpu", "disk"], default="cpu")
    parser.add_argument("--cache-dir", type=Path, help="folder of the disk cache (default: the temporary folder)")
    parser.add_argument("--scene", type=Path, help="an existing scene to load instead of writing one")
    parser.add_argument("--json", type=Path, help="with --train-steps: write the measurements here")
    args = parser.parse_args()
    if args.case:
        width, height, args.frames = CASES[args.case]
        args.size = f"{width}x{height}"
    width, height = parse_size(args.size)
    console = Console(width=160)
    if args.all:
        run_all(write_scene, args.unique, args.eval_every, args.train_steps or 20, args.rays)
        return
    if args.train_steps:
        with tempfile.TemporaryDirectory() as tmp:
            scene = args.scene
            if scene is None:
                scene = Path(tmp) / "scene"
                write_scene(scene, width, height, args.frames, args.unique, args.eval_every)
            result = measure_row(scene, args.cache_images, args.cache_dir, args.train_steps, args.rays)
        if args.json:
            args.json.write_text(json.dumps(result))
        result["case"] = args.case or "default"
        console.print(results_table([result]))
        return

    with tempfile.TemporaryDirectory() as tmp:
        scene = Path(tmp) / "scene"
        start = time.perf_counter()
        write_scene(scene, width, height, args.frames, args.unique, args.eval_every)
        console.print(f"Scene written in {time.perf_counter() - start:.0f} s: {args.frames} frames at {width}x{height}")

        gc.collect()
        process = psutil.Process()
        before = process.memory_info().rss
        start = time.perf_counter()
        config = PanopticDataManagerConfig(dataparser=PanopticDataParserConfig(data=scene))
        datamanager = config.setup(device="cpu", test_mode="val")
        load_seconds = time.perf_counter() - start
        gc.collect()
        after = process.memory_info().rss
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        trimmed = process.memory_info().rss if release_free_heap() else None

        stores = [datamanager.train_dataset.store, datamanager.eval_dataset.store]
        frames = sum(s.num_frames for s in stores)
        pixels = sum(s.num_pixels for s in stores)
        image_bytes = sum(store_bytes(s)[0] for s in stores)
        other_bytes = sum(store_bytes(s)[1] for s in stores)
        segments = sum(len(s.segment_area) - s.num_frames for s in stores)

    gib = 2**30
    table = Table(title=f"Training data resident in memory: {frames} frames at {width}x{height}, masks decoded")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_column("per pixel", justify="right")
    table.add_row("frames (train + eval)", f"{stores[0].num_frames} + {stores[1].num_frames}", "")
    table.add_row("pixels", f"{pixels:,}", "")
    table.add_row("labelled segments", f"{segments:,} ({segments / frames:.1f} per frame)", "")
    table.add_row("ray store: images (RGB uint8)", f"{image_bytes / gib:.3f} GiB", f"{image_bytes / pixels:.1f} B")
    table.add_row("ray store: masks and tables", f"{other_bytes / gib:.3f} GiB", f"{other_bytes / pixels:.1f} B")
    table.add_row("RSS growth while loading", f"{(after - before) / gib:.3f} GiB", f"{(after - before) / pixels:.1f} B")
    beyond = after - before - image_bytes
    table.add_row("[bold]RSS growth beyond the images", f"[bold]{beyond / gib:.3f} GiB", f"{beyond / pixels:.1f} B")
    if trimmed is not None:
        live = trimmed - before - image_bytes
        table.add_row("  of which live after malloc_trim", f"{live / gib:.3f} GiB", f"{live / pixels:.1f} B")
    rise = peak - before
    table.add_row("peak RSS growth while loading", f"{rise / gib:.3f} GiB", f"{rise / pixels:.1f} B")
    table.add_row("load time (decode + pack)", f"{load_seconds:.1f} s", "")
    console.print(table)
    verdict = "[bold green]within" if beyond < TARGET_BYTES else "[bold red]over"
    console.print(f"{verdict} the {TARGET_BYTES / 1e9:.0f} GB target beyond the images ({beyond / 1e9:.2f} GB)")


if __name__ == "__main__":
    main()
