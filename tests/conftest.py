"""Shared fixtures: tiny demo scenes written once per test session."""

import shutil
from pathlib import Path

import pytest

from panoptic_nerfstudio.data.demo_scene import DemoSceneConfig, write_demo_scene

TINY = DemoSceneConfig(seed=0, width=48, height=36, frames=8, eval_every=4)


@pytest.fixture(scope="session")
def tiny_scene_master(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "scene"
    write_demo_scene(out, TINY)
    return out


@pytest.fixture
def tiny_scene(tiny_scene_master, tmp_path) -> Path:
    """A private copy a test may break."""
    out = tmp_path / "scene"
    shutil.copytree(tiny_scene_master, out)
    return out
