"""Where a frame's panoptic layers live inside a scene directory (docs/format.md).

A frame may name its layers explicitly in transforms.json
(``panoptic_file_path``, ``confidence_file_path``, ``gt_panoptic_file_path``);
otherwise each layer is found by the image's stem in the layer's folder. Keeping
the rule here means the dataparser, validation and every command agree on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

from panoptic_nerfstudio.data.panoptic_format import PanopticFormatError, _read_json

CLASSES_FILENAME = "panoptic_classes.json"


@dataclass(frozen=True)
class Layer:
    key: str
    """Key a frame may use in transforms.json to name the file."""
    folder: str
    """Folder searched by image stem when the frame does not name the file."""


PANOPTIC = Layer("panoptic_file_path", "panoptic")
CONFIDENCE = Layer("confidence_file_path", "confidence")
GT_PANOPTIC = Layer("gt_panoptic_file_path", "gt_panoptic")


@dataclass(frozen=True)
class FrameLayers:
    """Paths of one frame's files. Optional layers are None where absent."""

    image: Path
    panoptic: Optional[Path]
    confidence: Optional[Path]
    gt_panoptic: Optional[Path]


def load_transforms(data: Path) -> Tuple[dict, Path]:
    """transforms.json and the directory its relative paths start from (as nerfstudio reads it)."""
    data = Path(data)
    path = data if data.suffix == ".json" else data / "transforms.json"
    meta = _read_json(path)
    if not isinstance(meta, dict) or not isinstance(meta.get("frames"), list) or not meta["frames"]:
        raise PanopticFormatError(path, 'expected an object with a non-empty "frames" list')
    for n, frame in enumerate(meta["frames"]):
        if not isinstance(frame, dict) or not isinstance(frame.get("file_path"), str):
            raise PanopticFormatError(path, f"frames[{n}] needs a string 'file_path'")
        for layer in (PANOPTIC, CONFIDENCE, GT_PANOPTIC):
            if frame.get(layer.key) is not None and not isinstance(frame[layer.key], str):
                raise PanopticFormatError(path, f"frames[{n}] has a non-string '{layer.key}': {frame[layer.key]!r}")
    return meta, path.parent


def layer_path(scene_dir: Path, frame: dict, layer: Layer, downscale: int = 1) -> Path:
    """The file a layer uses for a frame, whether or not it exists.

    With ``downscale > 1`` a pre-downscaled ``<folder>_<d>/`` copy is preferred when
    present (nerfstudio's ``images_<d>`` convention); otherwise the full-size file is
    used and resized on load.
    """
    explicit = frame.get(layer.key)
    if explicit is not None:
        return scene_dir / explicit
    stem = Path(frame["file_path"]).stem
    if downscale > 1:
        scaled = scene_dir / f"{layer.folder}_{downscale}" / f"{stem}.png"
        if scaled.exists():
            return scaled
    return scene_dir / layer.folder / f"{stem}.png"


def frame_layers(scene_dir: Path, frame: dict, downscale: int = 1) -> FrameLayers:
    """Resolve a frame's files. The panoptic mask is returned even if missing (it is required)."""

    def optional(layer: Layer) -> Optional[Path]:
        path = layer_path(scene_dir, frame, layer, downscale)
        if layer.key in frame and not path.exists():
            raise PanopticFormatError(path, f"named by '{layer.key}' of frame {frame['file_path']} but missing")
        return path if path.exists() else None

    return FrameLayers(
        image=scene_dir / frame["file_path"],
        panoptic=layer_path(scene_dir, frame, PANOPTIC, downscale),
        confidence=optional(CONFIDENCE),
        gt_panoptic=optional(GT_PANOPTIC),
    )
