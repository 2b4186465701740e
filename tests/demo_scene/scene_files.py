"""Reading a written demo scene back, shared by the demo-scene tests."""

import json
from collections import Counter
from pathlib import Path
from typing import Dict, List

from panoptic_nerfstudio.data.panoptic_format import PanopticFrame, read_panoptic


def stems(scene: Path) -> List[str]:
    """Frame stems in transforms.json order."""
    meta = json.loads((scene / "transforms.json").read_text())
    return [Path(f["file_path"]).stem for f in meta["frames"]]


def frames(scene: Path, folder: str) -> List[PanopticFrame]:
    """Every frame of one mask layer (``panoptic`` or ``gt_panoptic``), in frame order."""
    return [read_panoptic(scene / folder / f"{stem}.png") for stem in stems(scene)]


def files(root: Path) -> Dict[str, bytes]:
    """Every file under ``root`` by relative path, to compare scenes byte for byte."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def pixel_pairs(machine: PanopticFrame, gt: PanopticFrame) -> Counter:
    """Pixel counts of (gt id, machine id) pairs."""
    return Counter(zip(gt.ids.ravel().tolist(), machine.ids.ravel().tolist()))
