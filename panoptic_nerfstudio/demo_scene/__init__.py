"""Deterministic synthetic indoor scenes with simulated 2D panoptic masks and exact ground truth.

Training never reads this package: it writes scenes in the panoptic scene
format (docs/format.md) so that the method can be run, tested and benchmarked
without a real capture. ``ns-panoptic demo-data OUT [--layout NAME]`` is its
command; the rooms (``default``, which the method was tuned on, and the
benchmark layouts ``crowded`` and ``thin``) are described in :mod:`.layouts`.

Rooms (z up, metres, origin at the floor centre) are built from axis-aligned
boxes, rectangles, vertical cylinders and spheres, ray traced analytically and
vectorised over all pixels by pinhole cameras with a 65 degree horizontal field
of view. Every surface carries a procedural 3D texture under view-independent
Lambertian shading, so a small NeRF can recover the geometry from a few dozen
160 x 120 views. Images are 2 x 2 supersampled; labels come from the ray through
each pixel centre, as nerfstudio casts it. The same config always gives
bit-identical files.

Ground truth (``gt_panoptic/``) keeps one id per thing instance and per stuff
class across all frames. The machine masks (``panoptic/`` and ``confidence/``)
imitate a real 2D panoptic network run frame by frame, with its defects
(:mod:`.mask_defects`).

Modules, by concern:

* :mod:`.geometry`: primitives and ray casting;
* :mod:`.furniture` and :mod:`.layouts`: the objects, their classes
  (:mod:`.classes`) and the rooms they are arranged in;
* :mod:`.cameras`: intrinsics and camera paths;
* :mod:`.shading`: textures, light and rendering of a frame;
* :mod:`.mask_defects`: the simulated 2D network;
* :mod:`.writer`: the files on disk and the summary.
"""

from panoptic_nerfstudio.demo_scene.cameras import CameraChoice
from panoptic_nerfstudio.demo_scene.classes import (
    BASEBOARD,
    BIN,
    CABINET,
    CEILING,
    CHAIR,
    CLASSES,
    CUPBOARD,
    EXTENDED_CLASSES,
    FLOOR,
    FRAME,
    LAMP,
    POLE,
    SOFA,
    TABLE,
    WALL,
)
from panoptic_nerfstudio.demo_scene.layouts import LAYOUTS, LayoutName, build_scene
from panoptic_nerfstudio.demo_scene.writer import DemoSceneConfig, DemoSceneSummary, write_demo_scene

__all__ = [
    "BASEBOARD",
    "BIN",
    "CABINET",
    "CEILING",
    "CHAIR",
    "CLASSES",
    "CUPBOARD",
    "EXTENDED_CLASSES",
    "FLOOR",
    "FRAME",
    "LAMP",
    "LAYOUTS",
    "POLE",
    "SOFA",
    "TABLE",
    "WALL",
    "CameraChoice",
    "LayoutName",
    "DemoSceneConfig",
    "DemoSceneSummary",
    "build_scene",
    "write_demo_scene",
]
