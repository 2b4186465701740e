"""The instance table as buffers of the model: saved in every checkpoint, loaded from old ones too.

A run's table (``inference/panoptic_rule.InstanceTable``) is its one truth for labels, so it travels in the
checkpoint. Its size depends on the run (slots split into parts), and checkpoints written before a field existed lack
it: loading fills what is missing with what such a run meant (each slot one instance, no reach, nothing joined).
"""

from __future__ import annotations

import dataclasses
from typing import Dict

import torch
from torch import Tensor, nn

from panoptic_nerfstudio.inference.panoptic_rule import InstanceTable, unlimited_reach

TABLE_BUFFERS = {f"instance_{field.name}": field.name for field in dataclasses.fields(InstanceTable)}
"""Buffers of the model holding the fields of its ``InstanceTable`` (``instance_classes``, ``instance_slots``, ...)."""


def store_table(module: nn.Module, table: InstanceTable, device: torch.device) -> None:
    """Keep ``table`` as buffers of ``module``."""
    table = table.completed()
    for name, value in TABLE_BUFFERS.items():
        module.register_buffer(name, getattr(table, value).to(device))


def stored_table(module: nn.Module) -> InstanceTable:
    """The table kept in ``module``'s buffers."""
    return InstanceTable(**{value: getattr(module, name) for name, value in TABLE_BUFFERS.items()})


def prepare_table_state(module: nn.Module, state_dict: Dict[str, Tensor], prefix: str, device: torch.device) -> None:
    """Before ``module`` loads ``state_dict``: fill the fields an old checkpoint lacks, and shape the buffers as the
    checkpoint's table (a checkpoint from before parts existed has only the classes: its instances are its slots)."""
    classes = state_dict.get(prefix + "instance_classes")
    if classes is not None:
        defaults = {
            "instance_slots": lambda: torch.arange(-1, len(classes) - 1),
            "instance_points": lambda: torch.zeros(0, 3),
            "instance_point_ids": lambda: torch.zeros(0, dtype=torch.long),
            "instance_reach": lambda: unlimited_reach(len(classes)),
            "instance_same_as": lambda: torch.arange(len(classes)),
        }
        for name, default in defaults.items():
            state_dict.setdefault(prefix + name, default())
    for name in TABLE_BUFFERS:
        if prefix + name in state_dict:
            module.register_buffer(name, torch.empty_like(state_dict[prefix + name], device=device))
