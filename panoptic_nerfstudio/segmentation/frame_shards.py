"""``--shard K/N``: split a scene's frames between N processes or machines that segment it side by side.

Shard K takes every N-th frame of transforms.json starting at frame K (0-based), so the shards of one N are
disjoint and together cover every frame, whatever each has already done. A frame is written by exactly one
shard and gets the masks a single run gives it: byte for byte at --batch-size 1; in larger batches the model's
float sums over a batch may round differently in the last bits (scores, confidence within one 16-bit step), as
they do between two single runs of different batch sizes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Sequence, TypeVar

T = TypeVar("T")

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class FrameShard:
    index: int
    """K: the first frame this shard takes (0-based)."""
    count: int
    """N: how many shards split the scene."""

    @property
    def whole(self) -> bool:
        return self.count == 1

    def select(self, frames: Sequence[T]) -> List[T]:
        """Every ``count``-th frame starting at ``index``, in order."""
        return list(frames[self.index :: self.count])

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: Optional[str]) -> FrameShard:
    """``None`` is the whole scene (0/1); otherwise ``K/N`` with integers 0 <= K < N (a ValueError saying so)."""
    if text is None:
        return FrameShard(0, 1)
    match = _SHARD.match(str(text))
    if match is None:
        raise ValueError(f"--shard must be K/N with whole numbers 0 <= K < N (e.g. 0/4), got {text!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1:
        raise ValueError(f"--shard {text}: the number of shards N must be at least 1")
    if index >= count:
        raise ValueError(f"--shard {text}: K counts from 0, so it must be below N (0 to {count - 1})")
    return FrameShard(index, count)
