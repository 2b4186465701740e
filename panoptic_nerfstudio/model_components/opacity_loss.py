"""An opacity loss for closed rooms: every ray ends on a surface, so its accumulated weight should reach 1.

nerfacto's ``last_sample`` background gives a ray's leftover transmittance the colour of its last sample, so on
plain walls and floors the field may stay half transparent and paint their colour behind them (rendered
accumulation about 0.5 on the demo rooms' walls and floor, 0.97-0.99 on furniture). A ray's labels then mix the
wall or floor with whatever haze lies in front of it. A random background colour would force opacity too, but the
field did not form in 4000 steps with it. Measured with this loss (weight 0.01, an option, off by default): walls
and floor become opaque, and so does haze in front of the high cameras, where it hides the floor (README, "Quality
on scenes the method was not tuned on").
"""

from __future__ import annotations

from torch import Tensor


def opacity_loss(accumulation: Tensor) -> Tensor:
    """Mean over rays of ``(1 - accumulation)^2`` (``accumulation``: [..., 1] rendered weight sums in [0, 1])."""
    return ((1.0 - accumulation) ** 2).mean()
