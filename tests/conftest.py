"""Shared fixtures: tiny demo scenes written once per test session, one tiny trained run and one trained room; and
how the suite shares two CPU cores when pytest-xdist runs it in parallel (``make test``: ``-n 2``, see the Makefile)."""

import os
import shutil
from pathlib import Path

import pytest
import torch
from xdist.scheduler import LoadGroupScheduling

from panoptic_nerfstudio.demo_scene import DemoSceneConfig, write_demo_scene
from tests.console_scripts import EARLY_LOSSES, train_lite


def _share_the_cores() -> None:
    """Under xdist each worker gets its share of the cores, for its own torch and for the ns-train / ns-render it
    starts (they read OMP_NUM_THREADS): two workers of two threads each on two cores slow training down."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        threads = max(1, (os.cpu_count() or 1) // workers)
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)


_share_the_cores()

TRAINED_RUNS = ("room_trained_config", "tiny_trained_config")
"""Session fixtures that train, longest first."""

ROOM_TEST_FILES = ("tests/cli/test_lifting_regressions.py", "tests/cli/test_render_editing.py",
                   "tests/export/test_mask_export.py")  # fmt: skip
"""The files whose tests may need the trained room. Under xdist they are one unit of work, so one worker trains the
room (six minutes on one core) while the other runs the rest (each worker trains the session fixtures its own tests
need). The scheduler sees only test ids, not fixtures: the collection check below keeps this list complete."""


def _in_room_files(nodeid: str) -> bool:
    return nodeid.split("::")[0] in ROOM_TEST_FILES


def pytest_collection_modifyitems(items) -> None:
    """The tests of the trained runs first, longest run first, so the worker that trains the room starts with it."""
    strays = [item.nodeid for item in items
              if "room_trained_config" in item.fixturenames and not _in_room_files(item.nodeid)]
    if strays:
        raise pytest.UsageError(f"tests/conftest.py: add the files of {strays} to ROOM_TEST_FILES (they need the "
                                "trained room, which one xdist worker trains for all of them)")
    items.sort(key=lambda item: next((i for i, name in enumerate(TRAINED_RUNS) if name in item.fixturenames),
                                     len(TRAINED_RUNS)))  # fmt: skip


class _RoomOnOneWorker(LoadGroupScheduling):
    """``--dist loadgroup`` with the room's files as one group, every other test its own unit, handed out in the
    collection's order (``--no-loadscope-reorder``). xdist's own groups (the ``xdist_group`` mark) would do this, but
    xdist 3.8 writes them into ``item._nodeid``, which pytest 9 no longer reads."""

    def _split_scope(self, nodeid: str) -> str:
        return "room" if _in_room_files(nodeid) else super()._split_scope(nodeid)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """The room's tests on one worker under ``make test``'s ``--dist loadgroup``; other modes as xdist has them."""
    return _RoomOnOneWorker(config, log) if config.getvalue("dist") == "loadgroup" else None


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


@pytest.fixture(scope="session")
def tiny_trained_config(tmp_path_factory, tiny_scene_master) -> Path:
    """config.yml of a 40-step ns-train run of the lite preset on the tiny scene, shared by the slow tests
    of nerfstudio's commands, export and the viewer (training once keeps the suite short). Its far plane is
    nerfacto's 1000, not the presets' room-sized one: after 40 steps the field is nearly empty, and only rays that
    run far accumulate the surfaces the exports and renders of these tests need."""
    out = tmp_path_factory.mktemp("train")
    return train_lite(
        tiny_scene_master, out, "tiny", 40,
        "--pipeline.datamanager.train-num-rays-per-batch", "256", "--pipeline.model.far-plane", "1000",
    )  # fmt: skip


ROOM = DemoSceneConfig(layout="checks", eval_every=4)
"""The regression room (``--layout checks``, issue 17's failures in one room): 48 views at 160 x 120 (its pole is
2-3 pixels wide from across the room), every fourth held out."""


@pytest.fixture(scope="session")
def room_trained_config(tmp_path_factory) -> Path:
    """config.yml of a 1500-step ns-train run of the lite preset on the regression room, the instance loss from step
    200 and the consistency loss from 400 (the preset's 500 / 1000 are for 4000 steps). One run serves every slow
    test that needs a trained field (training is what makes the suite long): the regression checks
    (tests/cli/test_lifting_regressions.py), editing objects one by one (tests/cli/test_render_editing.py) and labels
    compared with the input masks (tests/export/test_mask_export.py). Its --data is the scene."""
    scene = tmp_path_factory.mktemp("room") / "scene"
    write_demo_scene(scene, ROOM)
    return train_lite(scene, tmp_path_factory.mktemp("train_room"), "room", 1500, *EARLY_LOSSES, timeout=1800)
