"""Write a demo scene (ours) back out in the Panoptic Lifting authors' layout, as their preprocessing leaves it.

No real scene of theirs can be downloaded here, so the import is tested on a
scene whose truth we know: every file follows the conventions of their
preprocessing (names, folders, npz keys, OpenCV poses, pixel-centre intrinsics,
16-bit class/instance PNGs, new instance ids in every frame, a scene-wide
ground-truth instance numbering, ScanNet-style splits, invalid-pixel JPEGs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
from PIL import Image

from panoptic_nerfstudio.convert.authors_classes import REDUCED
from panoptic_nerfstudio import demo_scene as demo
from panoptic_nerfstudio.data.panoptic_format import PanopticFrame, read_confidence, read_panoptic

AUTHORS_INDEX = {name: index for index, (name, _) in enumerate(REDUCED, 1)}

DEMO_TO_AUTHORS: Dict[int, int] = {
    demo.WALL: AUTHORS_INDEX["wall"],
    demo.FLOOR: AUTHORS_INDEX["floor"],
    demo.CABINET: AUTHORS_INDEX["cabinet"],
    demo.CHAIR: AUTHORS_INDEX["chair"],
    demo.SOFA: AUTHORS_INDEX["sofa"],
    demo.TABLE: AUTHORS_INDEX["table"],
    # Their "lamp" is stuff while the demo's lamps are things: they stand in as television, a thing.
    demo.LAMP: AUTHORS_INDEX["television"],
    demo.BIN: AUTHORS_INDEX["bag"],
    demo.CEILING: AUTHORS_INDEX["ceiling"],
}
"""Demo category id -> their class index, thing for thing and stuff for stuff."""

INVALID_COLUMNS = 16
"""Invalid masks cover the left 16 columns: whole 8x8 JPEG blocks, so the JPEG keeps them exact."""


@dataclass
class AuthorsSceneInfo:
    root: Path
    names: List[str]
    """Their frame names, in the demo's frame order."""
    demo_stems: Dict[str, str]
    """Their frame name -> the demo frame's stem."""
    train: List[str]
    test: List[str]
    invalid_frames: List[str] = field(default_factory=list)


def frame_name(index: int) -> str:
    """Numeric names whose text order differs from their numeric order ("14" < "7"), as in ScanNet."""
    return str(index * 7)


def _class_map(frame: PanopticFrame) -> np.ndarray:
    """Their class index per pixel (0 = void)."""
    lut = {0: 0, **{s.id: DEMO_TO_AUTHORS[s.category_id] for s in frame.segments}}
    keys = np.array(sorted(lut))
    values = np.array([lut[k] for k in keys])
    return values[np.searchsorted(keys, frame.ids)]


def _save_matrix(path: Path, matrix: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(" ".join(repr(float(v)) for v in row) for row in matrix) + "\n")


def write_authors_scene(demo_dir: Path, out: Path, invalid: Sequence[int] = (1, 4)) -> AuthorsSceneInfo:
    """Write ``demo_dir`` (our format, with ground truth) to ``out`` in their layout.

    ``invalid``: indices of the frames that get an ``invalid/<name>.jpg``.
    """
    demo_dir, out = Path(demo_dir), Path(out)
    meta = json.loads((demo_dir / "transforms.json").read_text())
    stems = [Path(f["file_path"]).stem for f in meta["frames"]]
    names = [frame_name(i) for i in range(len(stems))]
    by_stem = dict(zip(stems, names))
    for folder in (
        "color",
        "pose",
        "intrinsic",
        "m2f_semantics",
        "m2f_instance",
        "m2f_probabilities",
        "rs_semantics",
        "rs_instance",
        "invalid",
    ):
        (out / folder).mkdir(parents=True, exist_ok=True)

    k = np.eye(4)
    k[0, 0], k[1, 1] = meta["fl_x"], meta["fl_y"]
    k[0, 2], k[1, 2] = meta["cx"] - 0.5, meta["cy"] - 0.5  # their pixel centres sit at integers
    _save_matrix(out / "intrinsic" / "intrinsic_color.txt", k)

    gt_frames = {stem: read_panoptic(demo_dir / "gt_panoptic" / f"{stem}.png") for stem in stems}
    gt_things = sorted({s.id for f in gt_frames.values() for s in f.segments if s.isthing})
    gt_instance_number = {gid: n for n, gid in enumerate(gt_things, 1)}  # scene-wide, 1..K

    instance_counter = 1  # their preprocessing numbers machine instances on through the whole scene
    invalid_names = []
    for index, (frame, name) in enumerate(zip(meta["frames"], names)):
        stem = stems[index]
        Image.open(demo_dir / frame["file_path"]).convert("RGB").save(out / "color" / f"{name}.jpg", quality=95)
        c2w_opencv = np.array(frame["transform_matrix"]) @ np.diag([1.0, -1.0, -1.0, 1.0])
        _save_matrix(out / "pose" / f"{name}.txt", c2w_opencv)

        machine = read_panoptic(demo_dir / "panoptic" / f"{stem}.png")
        semantics = _class_map(machine)
        instance = np.zeros_like(machine.ids)
        for segment in machine.segments:
            if segment.isthing:
                instance[machine.ids == segment.id] = instance_counter
                instance_counter += 1
        Image.fromarray(semantics.astype(np.uint16)).save(out / "m2f_semantics" / f"{name}.png")
        Image.fromarray(instance.astype(np.uint16)).save(out / "m2f_instance" / f"{name}.png")

        confidence = read_confidence(demo_dir / "confidence" / f"{stem}.png")
        probability = np.full(semantics.shape + (len(REDUCED) + 1,), 0.02, dtype=np.float32)
        np.put_along_axis(probability, semantics[..., None], 0.6, axis=-1)
        probability /= probability.sum(-1, keepdims=True)
        np.savez_compressed(
            out / "m2f_probabilities" / f"{name}.npz",
            probability=probability,
            confidence=confidence.astype(np.float32),
            confidence_notta=(confidence**2).astype(np.float32),
        )

        gt = gt_frames[stem]
        gt_instance = np.zeros_like(gt.ids)
        for segment in gt.segments:
            if segment.isthing:
                gt_instance[gt.ids == segment.id] = gt_instance_number[segment.id]
        Image.fromarray(_class_map(gt).astype(np.uint8)).save(out / "rs_semantics" / f"{name}.png")
        Image.fromarray(gt_instance.astype(np.uint16)).save(out / "rs_instance" / f"{name}.png")

        if index in invalid:
            mask = np.zeros(semantics.shape, dtype=np.uint8)
            mask[:, :INVALID_COLUMNS] = 255
            Image.fromarray(mask).save(out / "invalid" / f"{name}.jpg", quality=95)
            invalid_names.append(name)

    train = [by_stem[Path(p).stem] for p in meta["train_filenames"]]
    test = [by_stem[Path(p).stem] for p in meta["test_filenames"]]
    (out / "splits.json").write_text(json.dumps({"train": train, "test": test}))  # ScanNet's splits have no "val"
    return AuthorsSceneInfo(out, names, {n: s for s, n in by_stem.items()}, train, test, invalid_names)
