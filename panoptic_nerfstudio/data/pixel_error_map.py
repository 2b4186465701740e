"""The colour error each training pixel last had, for drawing rays where the field is still wrong.

Instant-NGP draws its training pixels by such an error map. Here it picks rays inside the segment ray sampler's groups:
each group draws several candidate pixels of its segment uniformly and keeps some of them in proportion to their last
error, so a group still belongs to one 2D segment (the consistency loss) and every segment keeps its share of the
batch; within a segment the rays go to the pixels the field renders worst. It was made for thin structures (poles,
lamp stands, frames and the wall just beside them), whose few pixels uniform draws seldom hit.

A pixel never drawn counts as an error of 1 (the largest squared colour error), so unseen pixels come first.
"""

from __future__ import annotations

from typing import Any, Dict

import torch


class PixelErrorMap:
    """Per-pixel squared colour error of the last time each pixel was drawn (float32, 4 bytes per training pixel)."""

    def __init__(self, num_pixels: int, floor: float):
        self.error = torch.ones(num_pixels, dtype=torch.float32)
        self.floor = floor
        self._sum = 0.0
        self._count = 0.0

    def mean(self) -> float:
        """Mean error of the recent batches (an exponential average over about 100 of them)."""
        return self._sum / max(1, self._count)

    def choose(self, candidates: torch.Tensor, keep: int) -> torch.Tensor:
        """Columns of ``candidates`` ([groups, draws] flat pixel indices) to keep, [groups, keep], drawn without
        replacement in proportion to error + ``floor`` x the mean error (the floor mixes in uniform draws)."""
        weight = self.error[candidates] + self.floor * self.mean() + 1e-8
        return torch.multinomial(weight, keep, replacement=False)

    def record(self, pixels: torch.Tensor, squared_error: torch.Tensor) -> None:
        """Store the squared colour error of the rays just trained on (flat pixel indices ``pixels``)."""
        values = squared_error.detach().float().cpu()
        self.error[pixels] = values
        self._sum = 0.99 * self._sum + float(values.sum())
        self._count = 0.99 * self._count + values.numel()

    def state(self) -> Dict[str, Any]:
        """For the checkpoint: a resumed run draws as the uninterrupted one would."""
        return {"error": self.error.clone(), "sum": self._sum, "count": self._count}

    def load_state(self, state: Dict[str, Any]) -> None:
        if state["error"].shape != self.error.shape:
            raise ValueError(
                f"the checkpoint's error map has {state['error'].numel()} pixels, the training images "
                f"{self.error.numel()}: resume with the data the run was trained on"
            )
        self.error = state["error"].clone().float()
        self._sum, self._count = float(state["sum"]), float(state["count"])
