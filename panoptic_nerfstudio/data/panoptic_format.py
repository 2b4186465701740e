"""Reader and writer of the panoptic scene format (docs/format.md).

This is the only module that touches panoptic files on disk. Every other part of
the project (dataparser, validation, mask generation, evaluation, import) goes
through these functions, so the encoding rules live in exactly one place:
COCO panoptic PNGs (segment id = R + 256 G + 256^2 B, id 0 = void) with a
``segments_info`` JSON beside them, a class table, and 16-bit confidence PNGs.

Every reader raises :class:`PanopticFormatError` naming the file and the problem;
nothing is silently skipped or repaired.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

VOID_ID = 0
"""Segment id of unlabelled pixels, ignored by every loss and by evaluation."""

CONFIDENCE_SCALE = 65535
"""Confidence PNGs store value * 65535 as 16-bit grayscale."""

MAX_IMAGE_PIXELS = 1 << 26
"""Largest image (width x height, 8192 x 8192) any reader decodes. A header declaring more is refused before a
single pixel is decoded, so a corrupt header or a decompression bomb cannot exhaust memory."""

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class PanopticFormatError(ValueError):
    """A panoptic file breaks the format contract. The message names the file."""

    def __init__(self, path: Path | str, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


# ----------------------------------------------------------------------------- classes


@dataclass(frozen=True)
class Category:
    """One entry of ``panoptic_classes.json``."""

    id: int
    name: str
    isthing: bool
    color: Tuple[int, int, int]


@dataclass
class ClassTable:
    """The scene's label set. Category ids may be sparse; models use the dense index."""

    categories: List[Category]

    def __post_init__(self) -> None:
        self._index = {c.id: i for i, c in enumerate(self.categories)}

    def __len__(self) -> int:
        return len(self.categories)

    def __contains__(self, category_id: int) -> bool:
        return category_id in self._index

    def index_of(self, category_id: int) -> int:
        """Dense index (0..C-1) of a category id, the channel of the semantic head."""
        return self._index[category_id]

    def by_id(self, category_id: int) -> Category:
        return self.categories[self._index[category_id]]

    @property
    def thing_mask(self) -> np.ndarray:
        """Boolean per dense index: True where the class is a thing."""
        return np.array([c.isthing for c in self.categories], dtype=bool)

    @property
    def colors(self) -> np.ndarray:
        """uint8 [C, 3] colors per dense index."""
        return np.array([c.color for c in self.categories], dtype=np.uint8).reshape(-1, 3)

    @property
    def names(self) -> List[str]:
        return [c.name for c in self.categories]

    @property
    def category_ids(self) -> np.ndarray:
        """int64 [C] category id per dense index: dense index -> the id written in files."""
        return np.array([c.id for c in self.categories], dtype=np.int64)

    def dense_indices(self, category_ids: np.ndarray) -> np.ndarray:
        """int64 dense index of each category id in an array; -1 for ids not in the table (void included)."""
        category_ids = np.asarray(category_ids, dtype=np.int64)
        lookup = np.full(int(max(self._index, default=0)) + 1, -1, dtype=np.int64)
        lookup[self.category_ids] = np.arange(len(self.categories))
        inside = (category_ids >= 0) & (category_ids < len(lookup))
        return np.where(inside, lookup[np.clip(category_ids, 0, len(lookup) - 1)], -1)


def read_classes(path: Path) -> ClassTable:
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("categories"), list):
        raise PanopticFormatError(path, 'expected an object with a "categories" list')
    categories: List[Category] = []
    seen: set = set()
    for n, entry in enumerate(data["categories"]):
        where = f"categories[{n}]"
        if not isinstance(entry, dict):
            raise PanopticFormatError(path, f"{where} is not an object")
        cid = _int_field(path, entry, "id", where)
        if cid < 0:
            raise PanopticFormatError(path, f"{where} has negative id {cid}")
        if cid in seen:
            raise PanopticFormatError(path, f"{where} repeats category id {cid}")
        seen.add(cid)
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise PanopticFormatError(path, f"{where} needs a non-empty string 'name'")
        isthing = entry.get("isthing")
        if not isinstance(isthing, bool):
            raise PanopticFormatError(path, f"{where} needs a boolean 'isthing'")
        color = entry.get("color", _default_color(cid))
        if (
            not isinstance(color, (list, tuple))
            or len(color) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in color)
        ):
            raise PanopticFormatError(path, f"{where} has color {color!r}, expected three integers in 0..255")
        categories.append(Category(cid, name, isthing, tuple(color)))  # type: ignore[arg-type]
    if not categories:
        raise PanopticFormatError(path, "no categories")
    return ClassTable(categories)


def write_classes(path: Path, table: ClassTable) -> None:
    payload = {
        "categories": [
            {"id": c.id, "name": c.name, "isthing": c.isthing, "color": list(c.color)} for c in table.categories
        ]
    }
    _write_json(Path(path), payload)


def _default_color(category_id: int) -> List[int]:
    """A deterministic, well-spread color for class tables that give none."""
    rng = np.random.default_rng(category_id + 7919)
    return [int(v) for v in rng.integers(40, 256, size=3)]


# ----------------------------------------------------------------------------- panoptic masks


@dataclass(frozen=True)
class SegmentInfo:
    """One entry of ``segments_info``."""

    id: int
    category_id: int
    isthing: bool
    score: float = 1.0


@dataclass
class PanopticFrame:
    """A decoded panoptic mask: per-pixel segment ids and their segment table."""

    ids: np.ndarray
    """[H, W] int64 segment ids, 0 = void."""
    segments: List[SegmentInfo] = field(default_factory=list)

    def segment_table(self) -> Dict[int, SegmentInfo]:
        return {s.id: s for s in self.segments}


def ids_to_rgb(ids: np.ndarray) -> np.ndarray:
    """Encode segment ids as COCO panoptic RGB (id = R + 256 G + 256^2 B)."""
    ids = np.asarray(ids, dtype=np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= 256**3):
        raise ValueError("segment ids must lie in [0, 256^3)")
    return np.stack([ids % 256, (ids // 256) % 256, ids // 65536], axis=-1).astype(np.uint8)


def rgb_to_ids(rgb: np.ndarray) -> np.ndarray:
    """Decode COCO panoptic RGB to segment ids."""
    rgb = np.asarray(rgb)
    ids = rgb[..., 0].astype(np.int64)  # channel by channel: no [H, W, 3] int64 temporary for large masks
    ids += 256 * rgb[..., 1].astype(np.int64)
    ids += 65536 * rgb[..., 2].astype(np.int64)
    return ids


def json_path_for(png_path: Path) -> Path:
    return Path(png_path).with_suffix(".json")


def read_segments_info(path: Path) -> List[SegmentInfo]:
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("segments_info"), list):
        raise PanopticFormatError(path, 'expected an object with a "segments_info" list')
    segments: List[SegmentInfo] = []
    seen: set = set()
    for n, entry in enumerate(data["segments_info"]):
        where = f"segments_info[{n}]"
        if not isinstance(entry, dict):
            raise PanopticFormatError(path, f"{where} is not an object")
        sid = _int_field(path, entry, "id", where)
        if sid <= VOID_ID or sid >= 256**3:
            raise PanopticFormatError(path, f"{where} has id {sid}; ids must lie in 1..{256**3 - 1} (0 is void)")
        if sid in seen:
            raise PanopticFormatError(path, f"{where} repeats segment id {sid}")
        seen.add(sid)
        cid = _int_field(path, entry, "category_id", where)
        isthing = entry.get("isthing")
        if not isinstance(isthing, bool):
            raise PanopticFormatError(path, f"{where} needs a boolean 'isthing'")
        score = entry.get("score", 1.0)
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise PanopticFormatError(path, f"{where} has score {score!r}, expected a finite number")
        if not 0.0 <= score <= 1.0:
            raise PanopticFormatError(path, f"{where} has score {score}, expected a value in [0, 1]")
        segments.append(SegmentInfo(sid, cid, isthing, float(score)))
    return segments


def read_panoptic(png_path: Path, json_path: Optional[Path] = None) -> PanopticFrame:
    """Read a panoptic PNG and its segments_info; checks that every id in the PNG is described."""
    png_path = Path(png_path)
    json_path = json_path_for(png_path) if json_path is None else Path(json_path)
    if not png_path.exists():
        raise PanopticFormatError(png_path, "missing panoptic mask")
    if not json_path.exists():
        raise PanopticFormatError(json_path, "missing segments_info JSON for panoptic mask")
    rgb = read_png(png_path, modes=("RGB",), what="panoptic mask", bit_depth=8)
    ids = rgb_to_ids(rgb)
    segments = read_segments_info(json_path)
    known = {s.id for s in segments}
    present = np.unique(ids)
    missing = [int(i) for i in present if i != VOID_ID and int(i) not in known]
    if missing:
        shown = ", ".join(map(str, missing[:8])) + (" ..." if len(missing) > 8 else "")
        raise PanopticFormatError(png_path, f"segment id(s) {shown} in the PNG have no entry in {json_path.name}")
    return PanopticFrame(ids=ids, segments=segments)


def write_panoptic(png_path: Path, frame: PanopticFrame, json_path: Optional[Path] = None) -> None:
    png_path = Path(png_path)
    json_path = json_path_for(png_path) if json_path is None else Path(json_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(ids_to_rgb(frame.ids)).save(png_path)
    _write_json(
        json_path,
        {
            "segments_info": [
                {"id": int(s.id), "category_id": int(s.category_id), "isthing": bool(s.isthing), "score": float(s.score)}
                for s in frame.segments
            ]
        },
    )


# ----------------------------------------------------------------------------- confidence


def read_confidence(path: Path) -> np.ndarray:
    """float32 [H, W] in [0, 1] from a 16-bit grayscale PNG."""
    arr = read_png(Path(path), modes=("I;16", "I;16B", "I;16L", "I"), what="confidence map", bit_depth=16)
    if arr.min() < 0 or arr.max() > CONFIDENCE_SCALE:
        raise PanopticFormatError(path, "confidence values outside 0..65535")
    return (arr.astype(np.float32) / CONFIDENCE_SCALE).astype(np.float32)


def write_confidence(path: Path, confidence: np.ndarray) -> None:
    confidence = np.asarray(confidence, dtype=np.float64)
    if not np.isfinite(confidence).all() or confidence.min() < 0.0 or confidence.max() > 1.0:
        raise ValueError(f"{path}: confidence must be finite and in [0, 1]")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    quantised = np.round(confidence * CONFIDENCE_SCALE).astype(np.uint16)
    Image.fromarray(quantised).save(path)  # uint16 -> 16-bit grayscale ("I;16")


# ----------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class PngHeader:
    """What a PNG's IHDR chunk declares, read without decoding any pixel."""

    width: int
    height: int
    bit_depth: int
    color_type: int

    @property
    def size(self) -> Tuple[int, int]:
        return self.width, self.height


def read_png_header(path: Path, what: str) -> PngHeader:
    """The IHDR of a PNG (always its first chunk). Lets callers refuse a wrong size or bit depth up front.

    Pillow silently reduces 16-bit RGB to 8 bits, which would corrupt segment ids, so the bit depth is
    checked here, from the file itself.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(26)
    except FileNotFoundError as err:
        raise PanopticFormatError(path, f"missing {what}") from err
    except OSError as err:
        raise PanopticFormatError(path, f"unreadable {what}: {err}") from err
    if not head.startswith(PNG_SIGNATURE):
        if PNG_SIGNATURE.startswith(head):
            raise PanopticFormatError(path, f"unreadable {what}: empty or truncated file")
        raise PanopticFormatError(path, f"{what} is not a PNG file")
    if len(head) < 26 or head[12:16] != b"IHDR":
        raise PanopticFormatError(path, f"unreadable {what}: truncated or damaged PNG header")
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return PngHeader(width, height, head[24], head[25])


def read_png(path: Path, modes: Sequence[str], what: str, bit_depth: int) -> np.ndarray:
    """Decode a PNG fully, turning every decoder failure into a PanopticFormatError.

    Format, bit depth, mode and size are checked before decoding: a wrong file fails fast and a huge one
    is never allocated.
    """
    path = Path(path)
    header = read_png_header(path, what)
    check_pixel_count(path, header.size, what)
    if header.bit_depth != bit_depth:
        raise PanopticFormatError(path, f"{what} has {header.bit_depth}-bit channels, expected {bit_depth}-bit")
    try:
        with Image.open(path, formats=("PNG",)) as img:
            if img.mode not in modes:
                raise PanopticFormatError(path, f"{what} has image mode {img.mode}, expected {' or '.join(modes)}")
            img.load()
            return np.asarray(img)
    except PanopticFormatError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as err:
        raise PanopticFormatError(path, f"unreadable {what}: {err}") from err


IMAGE_MODES = ("RGB", "RGBA", "L")
"""Image modes nerfstudio turns into colours correctly (it would read a palette image's indices as grey)."""


def checked_image_size(path: Path, decode: bool = True) -> Tuple[int, int]:
    """(width, height) of a training image; with ``decode`` it is decoded fully so that truncated files are
    caught, without it only the header is read (size guard and mode) before nerfstudio decodes the image."""
    path = Path(path)
    if not path.exists():
        raise PanopticFormatError(path, "missing image")
    try:
        with Image.open(path) as img:
            check_pixel_count(path, img.size, "image")
            if img.mode not in IMAGE_MODES:
                raise PanopticFormatError(path, f"image has mode {img.mode}; expected {', '.join(IMAGE_MODES)}")
            if decode:
                img.load()
            return img.size
    except PanopticFormatError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as err:
        raise PanopticFormatError(path, f"unreadable image: {err}") from err


def check_pixel_count(path: Path, size: Tuple[int, int], what: str) -> None:
    """Refuse images declaring no pixels or more than MAX_IMAGE_PIXELS (checked from the header)."""
    width, height = size
    if width <= 0 or height <= 0:
        raise PanopticFormatError(path, f"{what} declares an empty size {width}x{height}")
    if width * height > MAX_IMAGE_PIXELS:
        raise PanopticFormatError(
            path,
            f"{what} declares {width}x{height} pixels, more than the {MAX_IMAGE_PIXELS:,} this reader decodes "
            "(corrupt header or decompression bomb)",
        )


def _read_json(path: Path):
    """Strict JSON: no NaN/Infinity literals, no key repeated within an object (which json would silently
    resolve to the last value). A UTF-8 byte order mark, as some Windows tools write, is accepted."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as err:
        raise PanopticFormatError(path, "missing file") from err
    except (OSError, UnicodeDecodeError) as err:
        raise PanopticFormatError(path, f"unreadable file: {err}") from err
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except (json.JSONDecodeError, ValueError) as err:
        raise PanopticFormatError(path, f"invalid JSON: {err}") from err
    except RecursionError as err:
        raise PanopticFormatError(path, "invalid JSON: nested too deeply") from err


def _reject_constant(name: str):
    raise ValueError(f"non-finite number {name} is not allowed")


def _unique_keys(pairs: List[Tuple[str, object]]) -> Dict[str, object]:
    obj: Dict[str, object] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"key {key!r} appears twice in one object")
        obj[key] = value
    return obj


def _int_field(path: Path, entry: dict, key: str, where: str) -> int:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PanopticFormatError(path, f"{where} needs an integer '{key}', got {value!r}")
    return value


def _write_json(path: Path, payload) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
