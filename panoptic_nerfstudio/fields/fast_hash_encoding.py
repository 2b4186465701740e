"""A faster CPU path for nerfstudio's torch hash grid, computing exactly the same function.

nerfstudio's torch ``HashEncoding`` gathers the 8 cell corners with ``table[index]``
eight times. On CPU the backward of that gather is ``index_put_`` with
accumulation, which profiling showed to take ~45% of a training step of the lite
preset. Gathering with ``index_select`` instead (backward: ``index_add_``) makes
the whole encoding 1.65x faster on 2 cores, forward plus backward (``F.embedding``,
and hashing all 8 corners in one op, were both slower). Same parameters, same
hashing, same arithmetic in the same order, so checkpoints and results are
interchangeable (a test compares both).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from nerfstudio.field_components.encodings import HashEncoding

def _gather(table: Tensor, index: Tensor) -> Tensor:
    return table.index_select(0, index.reshape(-1)).reshape(*index.shape, table.shape[-1])


class FastTorchHashEncoding(HashEncoding):
    def pytorch_fwd(self, in_tensor: Tensor) -> Tensor:
        assert in_tensor.shape[-1] == 3
        scaled = in_tensor[..., None, :] * self.scalings.view(-1, 1).to(in_tensor.device)  # [..., L, 3]
        ceil = torch.ceil(scaled).type(torch.int32)
        floor = torch.floor(scaled).type(torch.int32)
        offset = scaled - floor
        ox, oy, oz = offset[..., 0:1], offset[..., 1:2], offset[..., 2:3]
        cx, cy, cz = ceil[..., 0:1], ceil[..., 1:2], ceil[..., 2:3]
        fx, fy, fz = floor[..., 0:1], floor[..., 1:2], floor[..., 2:3]

        def corner(x: Tensor, y: Tensor, z: Tensor) -> Tensor:
            return _gather(self.hash_table, self.hash_fn(torch.cat([x, y, z], dim=-1)))

        # Corners and blending in nerfstudio's order, so results match it bit for bit.
        f_0, f_1, f_2, f_3 = corner(cx, cy, cz), corner(cx, fy, cz), corner(fx, fy, cz), corner(fx, cy, cz)
        f_4, f_5, f_6, f_7 = corner(cx, cy, fz), corner(cx, fy, fz), corner(fx, fy, fz), corner(fx, cy, fz)
        f_03 = f_0 * ox + f_3 * (1 - ox)
        f_12 = f_1 * ox + f_2 * (1 - ox)
        f_56 = f_5 * ox + f_6 * (1 - ox)
        f_47 = f_4 * ox + f_7 * (1 - ox)
        f0312 = f_03 * oy + f_12 * (1 - oy)
        f4756 = f_47 * oy + f_56 * (1 - oy)
        return torch.flatten(f0312 * oz + f4756 * (1 - oz), start_dim=-2, end_dim=-1)


def accelerate_torch_hash_encodings(module: nn.Module) -> int:
    """Switch every torch-implementation HashEncoding under ``module`` to the fast path; returns how many."""
    count = 0
    for child in module.modules():
        if type(child) is HashEncoding and child.tcnn_encoding is None:
            child.__class__ = FastTorchHashEncoding
            count += 1
    return count
