"""``python -m tests.distributed_launcher NS-TRAIN-ARGS``: nerfstudio's ``ns-train`` with
``--machine.num-devices N --machine.device-type cpu`` run as N CPU processes under torch.distributed with gloo.

nerfstudio 1.1.5 cannot do that itself in two spots, which this launcher (test code only) replaces:
``_distributed_worker`` asserts that CUDA exists (and that N <= the CUDA device count), and the pipeline wraps the
model in DistributedDataParallel with ``device_ids=[local_rank]`` and calls ``barrier(device_ids=...)``, which a
CPU module / the gloo backend reject. Everything else is nerfstudio's own: its command line, ``launch``
(``mp.spawn`` with one process per device), ``train_loop`` (seed + rank), its trainer and checkpointing. On GPUs
users run ``ns-train`` itself.

With ``PANOPTIC_DDP_RECORD=DIR`` each rank also writes what it did to ``DIR/rank<R>.pt`` when training ends: the
ray indices it drew and its losses at every step, how often it calibrated the instance table, the table it used
after each calibration and at the end, and its final parameters (the tests compare the ranks).
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Dict, List

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

RECORD_ENV = "PANOPTIC_DDP_RECORD"


class _CpuDDP(DistributedDataParallel):
    """DDP as nerfstudio calls it, without ``device_ids`` (a CPU module takes none); still a DDP for isinstance."""

    def __init__(self, module: torch.nn.Module, device_ids: Any = None, **kwargs: Any):
        super().__init__(module, device_ids=None, **kwargs)


class _GlooDist:
    """``torch.distributed`` as nerfstudio's pipeline sees it: ``barrier`` without ``device_ids``."""

    def __getattr__(self, name: str) -> Any:
        return getattr(dist, name)

    @staticmethod
    def barrier(*args: Any, device_ids: Any = None, **kwargs: Any) -> Any:
        return dist.barrier(*args, **kwargs)


def _patch_pipeline_for_cpu() -> None:
    import nerfstudio.pipelines.base_pipeline as base_pipeline

    base_pipeline.DDP = _CpuDDP  # type: ignore[attr-defined]
    base_pipeline.dist = _GlooDist()  # type: ignore[attr-defined]


def _record_training(directory: Path) -> None:
    """Wrap the trainer, datamanager and model so that each rank writes what it did (see the module docstring)."""
    from nerfstudio.engine.trainer import Trainer

    import panoptic_nerfstudio.models.panoptic_model as panoptic_model
    from panoptic_nerfstudio.data.panoptic_datamanager import PanopticDataManager
    from panoptic_nerfstudio.models.panoptic_model import PanopticLiftingModel

    log: Dict[str, List[Any]] = {"rays": [], "losses": [], "calibrations": [], "tables": []}
    next_train, train_iteration = PanopticDataManager.next_train, Trainer.train_iteration
    calibrate, train = PanopticLiftingModel.calibrate_instances, Trainer.train
    calibrate_on_rank_zero = panoptic_model.calibrate_on_rank_zero

    def recording_next_train(self, step):
        ray_bundle, batch = next_train(self, step)
        log["rays"].append(batch["indices"].clone())
        return ray_bundle, batch

    def recording_train_iteration(self, step):
        loss, loss_dict, metrics = train_iteration(self, step)
        log["losses"].append({k: float(v) for k, v in loss_dict.items()})
        return loss, loss_dict, metrics

    def recording_calibrate(self, *args, **kwargs):
        log["calibrations"].append(True)
        return calibrate(self, *args, **kwargs)

    def recording_calibrate_on_rank_zero(model, *args, **kwargs):
        calibrate_on_rank_zero(model, *args, **kwargs)
        log["tables"].append(_table(model))

    def recording_train(self):
        train(self)
        model = self.pipeline.model
        record = {
            **log,
            "rank": dist.get_rank(),
            "table": _table(model),
            "parameters": {k: v.detach().clone() for k, v in model.named_parameters()},
        }
        torch.save(record, directory / f"rank{dist.get_rank()}.pt")

    PanopticDataManager.next_train = recording_next_train
    Trainer.train_iteration = recording_train_iteration
    PanopticLiftingModel.calibrate_instances = recording_calibrate
    panoptic_model.calibrate_on_rank_zero = recording_calibrate_on_rank_zero
    Trainer.train = recording_train


def _table(model: Any) -> Dict[str, torch.Tensor]:
    table = model.instance_table
    return {name: getattr(table, name).clone() for name in ("classes", "slots", "points", "point_ids")}


def cpu_distributed_worker(
    local_rank: int,
    main_func: Callable,
    world_size: int,
    num_devices_per_machine: int,
    machine_rank: int,
    dist_url: str,
    config: Any,
    timeout: timedelta,
    device_type: str = "cpu",
) -> Any:
    """What nerfstudio's ``_distributed_worker`` does (same arguments), minus its CUDA checks; gloo on CPU."""
    from nerfstudio.utils import comms

    _patch_pipeline_for_cpu()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // num_devices_per_machine))  # the processes share the CPU
    if os.environ.get(RECORD_ENV):
        _record_training(Path(os.environ[RECORD_ENV]))
    global_rank = machine_rank * num_devices_per_machine + local_rank
    dist.init_process_group("gloo", init_method=dist_url, world_size=world_size, rank=global_rank, timeout=timeout)
    for machine in range(world_size // num_devices_per_machine):
        ranks = list(range(machine * num_devices_per_machine, (machine + 1) * num_devices_per_machine))
        group = dist.new_group(ranks)
        if machine == machine_rank:
            comms.LOCAL_PROCESS_GROUP = group
    try:
        output = main_func(local_rank, world_size, config, global_rank)
        comms.synchronize()
    finally:
        dist.destroy_process_group()
    return output


def main() -> None:
    import nerfstudio.scripts.train as ns_train

    import tests.distributed_launcher as launcher  # by its module name, so that spawned processes can find it

    ns_train._distributed_worker = launcher.cpu_distributed_worker
    sys.argv[0] = "ns-train"
    ns_train.entrypoint()


if __name__ == "__main__":
    main()
