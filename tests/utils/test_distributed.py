"""The distributed helpers, on two gloo processes of this machine (and without torch.distributed)."""

import random
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from panoptic_nerfstudio.inference.panoptic_rule import InstanceTable
from panoptic_nerfstudio.utils.distributed import (
    broadcast_instance_table,
    calibrate_on_rank_zero,
    decorrelate_ranks,
    rank_and_world_size,
    rank_frames,
)


class FakeModel:
    """What ``calibrate_on_rank_zero`` uses of the model: its table, a buffer's device, and a table setter."""

    def __init__(self, table: InstanceTable):
        self.instance_table = table
        self.thing_mask = torch.zeros(3, dtype=torch.bool)
        self.calibrations = 0

    def set_instance_table(self, table: InstanceTable) -> None:
        self.instance_table = table

    def calibrate(self, ids: int, points: int) -> None:
        self.calibrations += 1
        self.set_instance_table(random_table(ids, points, seed=ids))


def random_table(ids: int, points: int, seed: int) -> InstanceTable:
    g = torch.Generator().manual_seed(seed)
    return InstanceTable(
        classes=torch.randint(-2, 9, (ids,), generator=g),
        slots=torch.arange(-1, ids - 1),
        points=torch.randn(points, 3, generator=g),
        point_ids=torch.randint(1, ids, (points,), generator=g),
        reach=torch.rand(ids, generator=g),
    )


def _draws():
    return torch.rand(3).tolist(), float(np.random.rand()), random.random()


def _worker(rank: int, world_size: int, url: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=url, world_size=world_size, rank=rank)
    try:
        result = {"rank_and_world_size": rank_and_world_size()}
        # a table of a size only rank 0 knows
        mine = random_table(6, 11, seed=0) if rank == 0 else None
        result["broadcast"] = broadcast_instance_table(mine, device=torch.device("cpu"))
        # calibration: rank 0 computes (a table larger than the other ranks' own), everyone takes it
        model = FakeModel(random_table(3, 0, seed=99))
        calibrate_on_rank_zero(model, lambda: model.calibrate(ids=9, points=5))
        result["calibrations"], result["table"] = model.calibrations, model.instance_table
        # resuming: every rank restored the same streams; ranks other than 0 move to their own, reproducibly
        draws = []
        for _ in range(2):
            torch.manual_seed(5), np.random.seed(5), random.seed(5)
            decorrelate_ranks()
            draws.append(_draws())
        result["draws"] = draws
        torch.save(result, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ranks")
    mp.spawn(_worker, args=(2, f"tcp://127.0.0.1:{_free_port()}", str(out)), nprocs=2, join=True)
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(2)]


def assert_same_table(a: InstanceTable, b: InstanceTable) -> None:
    for name in ("classes", "slots", "points", "point_ids", "reach"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def test_every_rank_gets_rank_zeros_table_of_any_size(two_ranks):
    assert [r["rank_and_world_size"] for r in two_ranks] == [(0, 2), (1, 2)]
    expected = random_table(6, 11, seed=0)
    for result in two_ranks:
        assert_same_table(result["broadcast"], expected)


def test_calibration_runs_on_rank_zero_only_and_is_shared(two_ranks):
    assert [r["calibrations"] for r in two_ranks] == [1, 0]
    for result in two_ranks:
        assert_same_table(result["table"], random_table(9, 5, seed=9))


def test_resumed_ranks_draw_their_own_reproducible_streams(two_ranks):
    zero, one = (r["draws"] for r in two_ranks)
    torch.manual_seed(5), np.random.seed(5), random.seed(5)
    assert list(zero[0]) == list(zero[1]) == list(_draws())  # rank 0 continues the saved streams untouched
    assert one[0] == one[1]  # reproducible
    assert one[0][0] != zero[0][0] and one[0][1] != zero[0][1] and one[0][2] != zero[0][2]


def test_single_process_does_the_single_process_thing():
    assert rank_and_world_size() == (0, 1)
    model = FakeModel(random_table(3, 0, seed=1))
    calibrate_on_rank_zero(model, lambda: model.calibrate(ids=4, points=2))
    assert model.calibrations == 1
    torch.manual_seed(5)
    decorrelate_ranks()  # rank 0 of 1: the stream is left alone
    after = torch.rand(1)
    torch.manual_seed(5)
    assert torch.equal(after, torch.rand(1))


def test_rank_frames_split_the_frames():
    shares = [rank_frames(10, r, 3).tolist() for r in range(3)]
    assert shares == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    with pytest.raises(ValueError, match="only 2 training frames"):
        rank_frames(2, 2, 3)
