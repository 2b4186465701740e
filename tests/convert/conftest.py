"""A tiny demo scene in the authors' layout, and its conversion, built once per session."""

import shutil
from pathlib import Path

import pytest

from panoptic_nerfstudio.convert.authors_scene_import import import_authors_scene
from tests.convert.authors_layout import AuthorsSceneInfo, write_authors_scene


@pytest.fixture(scope="session")
def authors_scene_master(tmp_path_factory, tiny_scene_master) -> AuthorsSceneInfo:
    return write_authors_scene(tiny_scene_master, tmp_path_factory.mktemp("authors") / "scene0000_00")


@pytest.fixture
def authors_scene(authors_scene_master, tmp_path) -> Path:
    """A private copy a test may break."""
    out = tmp_path / "scene0000_00"
    shutil.copytree(authors_scene_master.root, out)
    return out


@pytest.fixture(scope="session")
def converted_master(authors_scene_master, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("converted") / "scene"
    import_authors_scene(authors_scene_master.root, out)
    return out
