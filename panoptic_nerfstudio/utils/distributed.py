"""Training on several devices (``ns-train ... --machine.num-devices N``): what this method adds to nerfstudio's
torch.distributed engine (NCCL on GPUs, gloo on CPUs).

nerfstudio starts one process per device, seeds each with ``seed + rank``, wraps the model in
DistributedDataParallel (which averages the gradients) and saves checkpoints on rank 0. On top of that:

- each rank draws rays from its own frames (``rank_frames``: every world-size-th training frame), so no two
  ranks train on the same rays in a step; the per-image instance assignment and the losses stay per rank;
- a resumed run restores rank 0's saved random streams on every rank; the other ranks then move to streams of
  their own (``decorrelate_ranks``);
- the run's instance table is made once, on rank 0, and every rank takes that table
  (``calibrate_on_rank_zero``, ``broadcast_instance_table``): its size depends on the run, and DDP, which copies
  rank 0's buffers to the other ranks at each forward, needs equal shapes everywhere.

Heads whose loss has not started yet get no gradient; nerfstudio's DDP (``find_unused_parameters=True``) copes
with that, and the ranks' parameters stay equal (checked by ``tests/test_distributed_training.py``).

Without an initialised process group every function here does the single-process thing.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any, Callable, Optional, Tuple

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor

from panoptic_nerfstudio.inference.panoptic_rule import InstanceTable

_TABLE_FIELDS = tuple(field.name for field in dataclasses.fields(InstanceTable))
"""The tensors of an ``InstanceTable``, in the order they travel (the receivers' buffers below follow it)."""


def rank_and_world_size() -> Tuple[int, int]:
    """This process's global rank and the number of processes (0, 1 without torch.distributed)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def rank_frames(num_frames: int, rank: int, world_size: int) -> Tensor:
    """The frames rank ``rank`` draws its rays from: every ``world_size``-th frame starting at ``rank``."""
    if world_size > num_frames:
        raise ValueError(
            f"{world_size} training processes but only {num_frames} training frames: each process needs a frame "
            "of its own (use fewer --machine.num-devices)"
        )
    return torch.arange(rank, num_frames, world_size)


def decorrelate_ranks() -> None:
    """After restoring rank 0's random streams (resuming), ranks other than 0 reseed torch, numpy and Python's
    ``random`` from a draw of the restored stream and their rank: reproducible, and different on every rank."""
    rank, _ = rank_and_world_size()
    if rank == 0:
        return
    seed = (int(torch.randint(0, 2**31 - 1, (1,))) + 1_000_003 * rank) % 2**32
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def broadcast_instance_table(table: Optional[InstanceTable], device: torch.device, src: int = 0) -> InstanceTable:
    """Rank ``src``'s ``table`` on every rank (others pass None). Sizes travel first, then the table's tensors,
    on ``device`` (a CUDA device under NCCL)."""
    rank, _ = rank_and_world_size()
    if rank == src:
        assert table is not None, "the source rank must pass its table"
        table = table.completed()
        parts = [getattr(table, name).to(device).contiguous() for name in _TABLE_FIELDS]
        sizes = torch.tensor([len(parts[0]), len(parts[2])], dtype=torch.long, device=device)
    else:
        sizes = torch.zeros(2, dtype=torch.long, device=device)
    dist.broadcast(sizes, src=src)
    ids, points = (int(v) for v in sizes.tolist())
    if rank != src:
        parts = [
            torch.empty(ids, dtype=torch.long, device=device),
            torch.empty(ids, dtype=torch.long, device=device),
            torch.empty(points, 3, dtype=torch.float32, device=device),
            torch.empty(points, dtype=torch.long, device=device),
            torch.empty(ids, dtype=torch.float32, device=device),
            torch.empty(ids, dtype=torch.long, device=device),
        ]
    for part in parts:
        dist.broadcast(part, src=src)
    return InstanceTable(**dict(zip(_TABLE_FIELDS, parts)))


def calibrate_on_rank_zero(model: Any, calibrate: Callable[[], Any]) -> None:
    """Run ``calibrate`` (which sets ``model``'s instance table) on rank 0 only and give every rank its table.

    Every rank must call this at the same step (the training callbacks do: the condition is the step)."""
    rank, world_size = rank_and_world_size()
    if world_size == 1:
        calibrate()
        return
    if rank == 0:
        calibrate()
    table = broadcast_instance_table(model.instance_table if rank == 0 else None, device=model.thing_mask.device)
    if rank != 0:
        model.set_instance_table(table)
