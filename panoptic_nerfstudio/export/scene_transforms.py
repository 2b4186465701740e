"""The transforms.json of an exported scene: the source's, for the frames written, at the export's resolution.

Poses stay exactly the source's (nerfstudio's OpenGL camera-to-world ``transform_matrix``), and so do
the camera model, distortion and every other key nerfstudio reads; only pixel quantities change with
the downscale N: ``fl_x``, ``fl_y``, ``cx``, ``cy`` (and ``fisheye_crop_radius``) are divided by N and
``w``, ``h`` become the written images' size, at the top level or per frame, wherever the source has
them. Distortion coefficients act on normalized coordinates and do not change.

Frames point at the written files (``images/<name>``, the layers found by stem in ``panoptic/`` and
``confidence/``). Keys naming files the export does not write are dropped (``mask_path``,
``depth_file_path``, the layer keys, ``ply_file_path``). The source's split lists
(``train_filenames``, ``val_filenames``, ``test_filenames``) are kept for the frames written; where the
export leaves one of them empty (say ``--split train``), all are dropped, since nerfstudio requires each
split a list names: the exported scene then splits by nerfstudio's ``--eval-mode``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

PIXEL_KEYS = ("fl_x", "fl_y", "cx", "cy", "fisheye_crop_radius")
SIZE_KEYS = ("w", "h")
SPLIT_KEYS = ("train_filenames", "val_filenames", "test_filenames")
DROPPED_FRAME_KEYS = ("mask_path", "depth_file_path", "panoptic_file_path", "confidence_file_path", "gt_panoptic_file_path")
DROPPED_SCENE_KEYS = ("ply_file_path", "panoptic_demo_scene")
EXPORT_KEY = "panoptic_label_export"
"""Key of the exported transforms.json that says where its labels came from."""


def scaled_intrinsics(entry: dict, downscale: int, size: Tuple[int, int]) -> dict:
    """``entry`` (the scene or one frame) with its pixel intrinsics divided by ``downscale`` and its ``w``/``h``
    set to ``size`` (W, H) where it has them."""
    out = dict(entry)
    for key in PIXEL_KEYS:
        if key in out:
            out[key] = float(out[key]) / downscale
    if "w" in out:
        out["w"] = int(size[0])
    if "h" in out:
        out["h"] = int(size[1])
    return out


def exported_transforms(
    meta: dict,
    frames: Sequence[Tuple[dict, str, Tuple[int, int]]],
    downscale: int,
    provenance: Dict[str, object],
) -> Tuple[dict, bool]:
    """The exported scene's transforms.json from the source's ``meta``; ``frames`` holds, per written frame, its
    source entry, its new ``file_path`` and its written size (W, H). Returns it and whether the source's split
    lists had to be dropped."""
    sizes = {size for _, _, size in frames}
    if len(sizes) != 1 and any(key in meta for key in SIZE_KEYS):
        raise ValueError(f"the scene has one image size but the export writes several: {sorted(sizes)}")
    scene = {k: copy.deepcopy(v) for k, v in meta.items() if k not in ("frames", *SPLIT_KEYS, *DROPPED_SCENE_KEYS)}
    scene = scaled_intrinsics(scene, downscale, next(iter(sizes)))
    written: List[dict] = []
    renamed: Dict[str, str] = {}
    for source, file_path, size in frames:
        entry = {k: copy.deepcopy(v) for k, v in source.items() if k not in DROPPED_FRAME_KEYS}
        entry = scaled_intrinsics(entry, downscale, size)
        entry["file_path"] = file_path
        written.append(entry)
        renamed[_key(source["file_path"])] = file_path
    scene["frames"] = written
    lists = {key: [renamed[_key(p)] for p in meta[key] if _key(p) in renamed] for key in SPLIT_KEYS if key in meta}
    dropped = not all(lists.values())
    if not dropped:
        scene.update(lists)
    scene[EXPORT_KEY] = dict(provenance)
    return scene, dropped


def _key(file_path: str) -> str:
    """How nerfstudio matches a split list's entry with a frame: the same path below the scene directory."""
    return Path(file_path).as_posix()
