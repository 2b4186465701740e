"""Color images of panoptic predictions for the viewer, ``ns-render`` and reports.

Instance colors are a pure function of the 3D instance id (a fixed hash), so an
object keeps its color across frames, videos and commands.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

InstanceColorScheme = Literal["distinct", "class-tinted"]


def instance_palette(ids: Tensor) -> Tensor:
    """A stable, well-spread RGB color in [0, 1] for each instance id (golden-ratio hues)."""
    hue = torch.remainder(ids.double() * 0.618033988749895 + 0.11, 1.0)
    sat = 0.65 + 0.3 * torch.remainder(ids.double() * 0.37, 1.0)
    val = 0.75 + 0.25 * torch.remainder(ids.double() * 0.53, 1.0)
    return hsv_to_rgb(hue, sat, val).float()


def hsv_to_rgb(h: Tensor, s: Tensor, v: Tensor) -> Tensor:
    k = torch.stack([torch.remainder(n + h * 6.0, 6.0) for n in (5.0, 3.0, 1.0)], dim=-1)
    return v[..., None] - v[..., None] * s[..., None] * torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)


def semantic_colormap(semantics: Tensor, class_colors: Tensor) -> Tensor:
    """[..., 3] in [0, 1] from dense class indices and uint8 class colors [C, 3]."""
    return class_colors.to(semantics.device)[semantics].float() / 255.0


def instance_colormap(
    instance: Tensor,
    semantics: Tensor,
    class_colors: Tensor,
    scheme: InstanceColorScheme = "distinct",
) -> Tensor:
    """[..., 3]: a color per 3D instance, black on stuff (instance 0)."""
    colors = instance_palette(instance)
    if scheme == "class-tinted":
        colors = 0.5 * colors + 0.5 * semantic_colormap(semantics, class_colors)
    return torch.where((instance > 0)[..., None], colors, torch.zeros_like(colors))


def segment_boundaries(semantics: Tensor, instance: Tensor) -> Tensor:
    """[H, W] bool: pixels whose (class, instance) differs from the right or lower neighbour."""
    key = semantics * (int(instance.max()) + 1 if instance.numel() else 1) + instance
    edge = torch.zeros_like(key, dtype=torch.bool)
    edge[:, :-1] |= key[:, :-1] != key[:, 1:]
    edge[:-1, :] |= key[:-1, :] != key[1:, :]
    return edge


def panoptic_colormap(
    semantics: Tensor,
    instance: Tensor,
    class_colors: Tensor,
    scheme: InstanceColorScheme = "distinct",
    show_stuff: bool = True,
    show_things: bool = True,
) -> Tensor:
    """[H, W, 3]: instances over semantics, with thin dark boundaries between segments."""
    stuff = semantic_colormap(semantics, class_colors)
    things = instance_colormap(instance, semantics, class_colors, scheme)
    is_thing = instance > 0
    image = torch.where(is_thing[..., None], things, stuff)
    hidden = (is_thing & (not show_things)) | (~is_thing & (not show_stuff))
    image = torch.where(hidden[..., None], torch.zeros_like(image), image)
    return torch.where(segment_boundaries(semantics, instance)[..., None], image * 0.25, image)
