"""Small demo scenes written once per session and shared by the demo-scene tests (they only read them)."""

from pathlib import Path
from typing import Dict

import pytest

from panoptic_nerfstudio.demo_scene import DemoSceneConfig, write_demo_scene

SMALL = DemoSceneConfig(seed=3, width=48, height=36, frames=6, eval_every=3)


@pytest.fixture(scope="session")
def scene(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "scene"
    write_demo_scene(out, SMALL)
    return out


@pytest.fixture(scope="session")
def clean_scene(tmp_path_factory) -> Path:
    """The same scene without any mask defect."""
    out = tmp_path_factory.mktemp("clean") / "scene"
    write_demo_scene(out, DemoSceneConfig(seed=3, width=48, height=36, frames=6, eval_every=3, noise=0.0))
    return out


BENCHMARK_LAYOUTS = ("crowded", "thin")
QUARTER = dict(seed=2, width=80, height=60, frames=48, eval_every=8)
"""The benchmark layouts at a quarter of the default resolution but with every frame of the tour."""


@pytest.fixture(scope="session")
def layout_scenes(tmp_path_factory) -> Dict[str, Path]:
    """The benchmark layouts, written once (a few seconds) and only read by the tests."""
    root = tmp_path_factory.mktemp("layouts")
    scenes = {}
    for name in BENCHMARK_LAYOUTS:
        scenes[name] = root / name
        write_demo_scene(scenes[name], DemoSceneConfig(layout=name, **QUARTER))
    return scenes
