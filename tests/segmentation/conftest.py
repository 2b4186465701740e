"""Fixtures for mask generation: a scene as ns-process-data leaves it (images and cameras, no masks) and tiny
Mask2Former checkpoints on disk."""

import shutil
from pathlib import Path

import pytest
import torch

from panoptic_nerfstudio.demo_scene import DemoSceneConfig, write_demo_scene
from tests.segmentation.tiny_mask2former import save_tiny_mask2former

MIXED_CLASSES = ("chair", "person", "wall-other-merged", "floor-wood")


@pytest.fixture(autouse=True)
def single_thread():
    """Tiny models on a shared CPU run fastest on one thread (several threads spin against other processes)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def raw_scene_master(tmp_path_factory) -> Path:
    scene = tmp_path_factory.mktemp("raw") / "scene"
    write_demo_scene(scene, DemoSceneConfig(seed=0, width=32, height=24, frames=3, eval_every=2))
    for layer in ("panoptic", "confidence", "gt_panoptic"):
        shutil.rmtree(scene / layer)
    (scene / "panoptic_classes.json").unlink()
    return scene


@pytest.fixture
def raw_scene(raw_scene_master, tmp_path) -> Path:
    """Images, cameras and transforms.json only, in a private copy."""
    scene = tmp_path / "scene"
    shutil.copytree(raw_scene_master, scene)
    return scene


@pytest.fixture(scope="session")
def mixed_model(tmp_path_factory) -> Path:
    """Queries predict chairs, people, walls and floors, varying over the image."""
    return save_tiny_mask2former(tmp_path_factory.mktemp("m2f") / "mixed", MIXED_CLASSES)


@pytest.fixture(scope="session")
def chair_model(tmp_path_factory) -> Path:
    """Every query is a chair with probability ~1."""
    return save_tiny_mask2former(tmp_path_factory.mktemp("m2f") / "chair", ["chair"], certain=True)


@pytest.fixture(scope="session")
def wall_model(tmp_path_factory) -> Path:
    """Every query is a wall with probability ~1."""
    return save_tiny_mask2former(tmp_path_factory.mktemp("m2f") / "wall", ["wall-other-merged"], certain=True)
