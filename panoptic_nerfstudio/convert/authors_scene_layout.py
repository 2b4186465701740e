"""The Panoptic Lifting authors' per-scene layout: what it holds, where, and how to read each part.

Their public data loader reads one folder per scene (Replica, ScanNet, Hypersim
or an in-the-wild capture), frames named by the stems of ``color/*.jpg``::

    color/<name>.jpg                 RGB frame
    intrinsic/intrinsic_color.txt    4x4 (the upper 3x3 is K, for the color frames' size,
                                     OpenCV pixel convention: pixel centres at integers)
    pose/<name>.txt                  4x4 camera-to-world, OpenCV camera axes (x right, y down, z forward)
    m2f_semantics/<name>.png         Mask2Former class index per pixel (0 = void, 1..N)
    m2f_instance/<name>.png          Mask2Former thing instance per pixel (0 = none), new ids in every frame
    m2f_probabilities/<name>.npz     "probability" H x W x (N+1), "confidence" H x W (with test-time
                                     augmentation), usually also "confidence_notta"
    splits.json                      {"train": [...], "test": [...]} and/or "val"; names or integers
    rs_semantics/, rs_instance/      optional ground truth: class index, and instance ids that are the same
                                     object in every frame (0 for stuff)
    m2f_notta_semantics/, m2f_notta_instance/   optional: the masks without test-time augmentation
    invalid/<name>.jpg               optional, per frame: pixels > 0 are ignored
    depth/, segmentation_data.pkl, ...          not needed here

Every layer may have its own resolution: their loader resizes each one to the
training size (labels nearest, probabilities bilinear), and so does the import.
Problems are raised as :class:`AuthorsSceneError`, naming the missing or broken
part, before anything is written.
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from panoptic_nerfstudio.data.panoptic_format import MAX_IMAGE_PIXELS

COLOR = "color"
INTRINSICS = Path("intrinsic") / "intrinsic_color.txt"
POSE = "pose"
SEMANTICS = "m2f_semantics"
INSTANCE = "m2f_instance"
NOTTA_SEMANTICS = "m2f_notta_semantics"
NOTTA_INSTANCE = "m2f_notta_instance"
PROBABILITIES = "m2f_probabilities"
GT_SEMANTICS = "rs_semantics"
GT_INSTANCE = "rs_instance"
INVALID = "invalid"
SPLITS = "splits.json"

REQUIRED_FOLDERS = (COLOR, POSE, SEMANTICS, INSTANCE, PROBABILITIES)

LABEL_MODES = ("L", "P", "I", "I;16", "I;16B", "I;16L", "I;16N")
"""Single-channel modes their label PNGs come in (uint8, uint16 or 32-bit integer)."""


class AuthorsSceneError(ValueError):
    """A scene in the authors' layout lacks a part or has a broken one. The message names the file."""

    def __init__(self, path: Path | str, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def frame_order(name: str) -> Tuple[int, int, str]:
    """Their frame order: numeric names by value (``"9"`` before ``"10"``), others by text after them."""
    return (0, int(name), "") if name.isdecimal() else (1, 0, name)


@dataclass(frozen=True)
class AuthorsScene:
    """One scene folder whose layout has been checked; file paths by frame name."""

    root: Path
    frames: List[str]
    """Stems of ``color/*.jpg`` in their order."""
    train: List[str]
    val: List[str]
    """``splits.json``'s "val", or its "test" where there is no "val" (their loader validates on test then)."""
    test: List[str]
    """``splits.json``'s "test", or its "val" where there is no "test" (in-the-wild scenes)."""
    has_ground_truth: bool
    has_notta_masks: bool

    @property
    def name(self) -> str:
        return self.root.name

    def color(self, frame: str) -> Path:
        return self.root / COLOR / f"{frame}.jpg"

    def pose(self, frame: str) -> Path:
        return self.root / POSE / f"{frame}.txt"

    def semantics(self, frame: str, notta: bool = False) -> Path:
        return self.root / (NOTTA_SEMANTICS if notta else SEMANTICS) / f"{frame}.png"

    def instance(self, frame: str, notta: bool = False) -> Path:
        return self.root / (NOTTA_INSTANCE if notta else INSTANCE) / f"{frame}.png"

    def probabilities(self, frame: str) -> Path:
        return self.root / PROBABILITIES / f"{frame}.npz"

    def gt_semantics(self, frame: str) -> Path:
        return self.root / GT_SEMANTICS / f"{frame}.png"

    def gt_instance(self, frame: str) -> Path:
        return self.root / GT_INSTANCE / f"{frame}.png"

    def invalid(self, frame: str) -> Optional[Path]:
        """The frame's invalid-pixel mask, None where the frame has none (their loader treats it as all valid)."""
        path = self.root / INVALID / f"{frame}.jpg"
        return path if path.exists() else None

    @property
    def intrinsics(self) -> Path:
        return self.root / INTRINSICS

    def frame_files(self, frame: str, notta: bool = False) -> List[Path]:
        """Every file a frame needs (existence is checked up front, so a missing one stops before writing)."""
        files = [
            self.color(frame),
            self.pose(frame),
            self.semantics(frame, notta),
            self.instance(frame, notta),
            self.probabilities(frame),
        ]
        if self.has_ground_truth:
            files += [self.gt_semantics(frame), self.gt_instance(frame)]
        return files


def is_authors_scene(folder: Path) -> bool:
    return (Path(folder) / COLOR).is_dir()


def find_authors_scenes(src: Path) -> List[Path]:
    """``src`` itself when it is a scene, else every scene below it (e.g. ``data/`` of their download holds
    ``replica/room_0``, ``scannet/scene0423_02``, ...). A scene's own sub-folders are not searched."""
    src = Path(src)
    if not src.is_dir():
        raise AuthorsSceneError(src, "no such folder")
    if is_authors_scene(src):
        return [src]
    found: List[Path] = []
    pending = [src]
    seen = {src.resolve()}  # a symlink loop must not send the search round forever
    while pending:
        folder = pending.pop()
        for child in sorted(p for p in folder.iterdir() if p.is_dir()):
            if child.resolve() in seen:
                continue
            seen.add(child.resolve())
            if is_authors_scene(child):
                found.append(child)
            else:
                pending.append(child)
    if not found:
        raise AuthorsSceneError(
            src,
            f"not a Panoptic Lifting scene (no {COLOR}/ folder) and no folder below it is one; a scene holds "
            f"{COLOR}/, {INTRINSICS.as_posix()}, {POSE}/, {SEMANTICS}/, {INSTANCE}/, {PROBABILITIES}/ and {SPLITS}",
        )
    return sorted(found)


def open_authors_scene(root: Path) -> AuthorsScene:
    """Check the scene-level parts (folders, intrinsics file, splits) and list its frames."""
    root = Path(root)
    for folder in REQUIRED_FOLDERS:
        if not (root / folder).is_dir():
            raise AuthorsSceneError(root / folder, f"missing folder: the scene needs {folder}/ ({_ROLE[folder]})")
    if not (root / INTRINSICS).is_file():
        raise AuthorsSceneError(root / INTRINSICS, "missing camera intrinsics file")
    frames = sorted((p.stem for p in (root / COLOR).iterdir() if p.suffix == ".jpg"), key=frame_order)
    if not frames:
        raise AuthorsSceneError(root / COLOR, "no .jpg frames")
    gt = [(root / folder).is_dir() for folder in (GT_SEMANTICS, GT_INSTANCE)]
    if any(gt) and not all(gt):
        present, absent = (GT_SEMANTICS, GT_INSTANCE) if gt[0] else (GT_INSTANCE, GT_SEMANTICS)
        raise AuthorsSceneError(root / absent, f"missing folder: ground truth needs both {present}/ and {absent}/")
    notta = [(root / folder).is_dir() for folder in (NOTTA_SEMANTICS, NOTTA_INSTANCE)]
    train, val, test = _read_splits(root / SPLITS, frames)
    return AuthorsScene(root, frames, train, val, test, has_ground_truth=all(gt), has_notta_masks=all(notta))


_ROLE = {
    COLOR: "the RGB frames, <name>.jpg",
    POSE: "camera-to-world matrices, <name>.txt",
    SEMANTICS: "Mask2Former class per pixel, <name>.png",
    INSTANCE: "Mask2Former instance per pixel, <name>.png",
    PROBABILITIES: "class probabilities and confidence, <name>.npz",
}


def _read_splits(path: Path, frames: Sequence[str]) -> Tuple[List[str], List[str], List[str]]:
    if not path.is_file():
        raise AuthorsSceneError(
            path, 'missing split file (their scenes list frames as {"train": [...], "test": [...]})'
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise AuthorsSceneError(path, f"unreadable split file: {err}") from err
    if not isinstance(data, dict):
        raise AuthorsSceneError(path, "expected an object with 'train' and 'test' (or 'val') lists")
    known = set(frames)
    lists: Dict[str, List[str]] = {}
    for key in ("train", "val", "test"):
        if key not in data:
            continue
        entries = data[key]
        if not isinstance(entries, list):
            raise AuthorsSceneError(path, f"'{key}' is not a list")
        names = []
        for entry in entries:
            if isinstance(entry, bool) or not isinstance(entry, (str, int)):
                raise AuthorsSceneError(path, f"'{key}' holds {entry!r}; expected frame names or numbers")
            names.append(str(entry))
        unknown = [n for n in names if n not in known]
        if unknown:
            shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            raise AuthorsSceneError(path, f"'{key}' names {len(unknown)} frame(s) with no {COLOR}/<name>.jpg: {shown}")
        lists[key] = names
    if not lists.get("train"):
        raise AuthorsSceneError(path, "no 'train' frames")
    if not lists.get("test") and not lists.get("val"):
        raise AuthorsSceneError(path, "no held-out frames: neither 'test' nor 'val' lists any")
    val = lists.get("val") or lists["test"]
    test = lists.get("test") or lists["val"]
    return lists["train"], val, test


def check_frame_files(scene: AuthorsScene, frames: Sequence[str], notta: bool) -> None:
    """Every file the frames need exists; the error names the first missing one and counts the rest."""
    missing = [path for frame in frames for path in scene.frame_files(frame, notta) if not path.is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more missing file(s))" if len(missing) > 1 else ""
        raise AuthorsSceneError(missing[0], f"missing {_describe(missing[0].parent.name)}{more}")


def _describe(folder: str) -> str:
    return {
        COLOR: "color frame",
        POSE: "camera pose",
        SEMANTICS: "Mask2Former class mask",
        INSTANCE: "Mask2Former instance mask",
        NOTTA_SEMANTICS: "Mask2Former class mask (no test-time augmentation)",
        NOTTA_INSTANCE: "Mask2Former instance mask (no test-time augmentation)",
        PROBABILITIES: "probability/confidence file",
        GT_SEMANTICS: "ground-truth class mask",
        GT_INSTANCE: "ground-truth instance mask",
    }.get(folder, "file")


# ----------------------------------------------------------------------------- readers


def read_matrix(path: Path, what: str) -> np.ndarray:
    """A whitespace-separated matrix of finite numbers (blank lines ignored, as their loader does)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise AuthorsSceneError(path, f"unreadable {what}: {err}") from err
    try:
        rows = [[float(v) for v in line.split()] for line in text.splitlines() if line.strip()]
    except ValueError as err:
        raise AuthorsSceneError(path, f"{what} is not a matrix of numbers: {err}") from err
    if not rows or any(len(row) != len(rows[0]) for row in rows):
        raise AuthorsSceneError(path, f"{what} is not a rectangular matrix")
    matrix = np.array(rows, dtype=np.float64)
    if not np.isfinite(matrix).all():
        raise AuthorsSceneError(path, f"{what} holds non-finite values (an invalid frame; leave it out of the scene)")
    return matrix


def read_intrinsics(path: Path) -> np.ndarray:
    """K (3x3) from ``intrinsic_color.txt`` (4x4, or 3x3)."""
    matrix = read_matrix(path, "camera intrinsics")
    if matrix.shape not in ((3, 3), (4, 4)):
        raise AuthorsSceneError(path, f"camera intrinsics are {matrix.shape[0]}x{matrix.shape[1]}; expected 4x4 or 3x3")
    k = matrix[:3, :3]
    if k[0, 0] <= 0 or k[1, 1] <= 0:
        raise AuthorsSceneError(path, f"focal lengths must be positive, got fx={k[0, 0]}, fy={k[1, 1]}")
    if abs(k[0, 1]) > 1e-3 * k[0, 0]:
        raise AuthorsSceneError(path, f"skewed intrinsics (K[0,1] = {k[0, 1]}) cannot be expressed in transforms.json")
    return k


def read_pose(path: Path) -> np.ndarray:
    """4x4 camera-to-world (OpenCV axes)."""
    matrix = read_matrix(path, "camera pose")
    if matrix.shape == (3, 4):
        matrix = np.vstack([matrix, [0.0, 0.0, 0.0, 1.0]])
    if matrix.shape != (4, 4):
        raise AuthorsSceneError(path, f"camera pose is {matrix.shape[0]}x{matrix.shape[1]}; expected 4x4")
    if not np.allclose(matrix[3], [0.0, 0.0, 0.0, 1.0], atol=1e-6):
        raise AuthorsSceneError(path, f"camera pose's last row is {matrix[3].tolist()}; expected [0, 0, 0, 1]")
    return matrix


def image_size(path: Path, what: str) -> Tuple[int, int]:
    """(width, height) from the header only."""
    try:
        with Image.open(path) as img:
            size = img.size
    except (OSError, ValueError, SyntaxError) as err:
        raise AuthorsSceneError(path, f"unreadable {what}: {err}") from err
    if size[0] <= 0 or size[1] <= 0 or size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise AuthorsSceneError(path, f"{what} declares an unusable size {size[0]}x{size[1]}")
    return size


def _decoded(path: Path, what: str) -> Image.Image:
    image_size(path, what)  # refuse absurd headers before decoding
    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except (OSError, ValueError, SyntaxError) as err:
        raise AuthorsSceneError(path, f"unreadable {what}: {err}") from err


def read_color(path: Path) -> Image.Image:
    """The decoded color frame in its own mode (decoding it whole catches a truncated JPEG here)."""
    return _decoded(path, "color frame")


def read_label_image(path: Path, what: str) -> np.ndarray:
    """A single-channel integer label PNG as int64 [H, W]."""
    image = _decoded(path, what)
    if image.mode not in LABEL_MODES:
        raise AuthorsSceneError(path, f"{what} has image mode {image.mode}; expected one integer channel")
    labels = np.asarray(image).astype(np.int64)
    if labels.min() < 0:
        raise AuthorsSceneError(path, f"{what} holds negative values")
    return labels


def read_invalid(path: Path) -> np.ndarray:
    """Bool [H, W]: True where their loader ignores the pixel (any value above 0)."""
    image = _decoded(path, "invalid-pixel mask")
    values = np.asarray(image)
    return (values.max(axis=-1) if values.ndim == 3 else values) > 0


def read_npz_array(path: Path, key: str, alternative: str = "") -> np.ndarray:
    """One array of a probability file, as float32; only that member is decompressed."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            if key not in npz.files:
                hint = f"; {alternative}" if alternative else ""
                raise AuthorsSceneError(path, f"no '{key}' array (it holds {', '.join(npz.files) or 'nothing'}){hint}")
            array = npz[key]
    except AuthorsSceneError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise AuthorsSceneError(path, f"unreadable probability file: {err}") from err
    if array.dtype.kind not in "fiu":
        raise AuthorsSceneError(path, f"'{key}' has dtype {array.dtype}; expected numbers")
    return array.astype(np.float32)


def read_confidence(path: Path, key: str) -> np.ndarray:
    """Per-pixel confidence [H, W] in [0, 1]."""
    alternative = "run with --confidence tta" if key == "confidence_notta" else ""
    confidence = read_npz_array(path, key, alternative)
    if confidence.ndim != 2:
        raise AuthorsSceneError(path, f"'{key}' has shape {confidence.shape}; expected H x W")
    if not np.isfinite(confidence).all():
        raise AuthorsSceneError(path, f"'{key}' holds non-finite values")
    if confidence.min() < -1e-3 or confidence.max() > 1 + 1e-3:
        raise AuthorsSceneError(path, f"'{key}' holds values outside [0, 1] ({confidence.min()}..{confidence.max()})")
    return np.clip(confidence, 0.0, 1.0)


def probability_channels(path: Path) -> int:
    """Channels of the "probability" array, read from the .npy header without decompressing the data."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open("probability.npy") as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, _ = np.lib.format.read_array_header_1_0(member)
            else:
                shape, _, _ = np.lib.format.read_array_header_2_0(member)
    except KeyError as err:
        raise AuthorsSceneError(path, "no 'probability' array") from err
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise AuthorsSceneError(path, f"unreadable probability file: {err}") from err
    if len(shape) != 3:
        raise AuthorsSceneError(path, f"'probability' has shape {shape}; expected H x W x classes")
    return int(shape[2])


def principal_point_fits(k: np.ndarray, size: Tuple[int, int]) -> bool:
    """Whether K's principal point lies inside a ``size`` image: a K for another resolution usually does not."""
    width, height = size
    return 0 < k[0, 2] < width and 0 < k[1, 2] < height and math.isfinite(k[0, 2])
