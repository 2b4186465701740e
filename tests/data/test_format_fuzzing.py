"""Fuzzing the format reader, frame decoding and ``ns-panoptic validate`` with malformed PNGs and JSON.

Users bring masks from many networks and scripts. Whatever the bytes, reading must end in one of two ways:
a :class:`PanopticFormatError` naming the broken file, or a result that obeys the contract (every id in range
and described, finite scores, known categories, nothing dropped). Never a raw KeyError/TypeError/ValueError
from deep inside, never a silent skip. Where a mutation is known to break the contract, the test also
requires the error (an oracle written from docs/format.md), so accepting bad input fails too.

Examples are derandomized (the same cases in every run, so CI is stable). ``FUZZ_EXAMPLES=2000`` runs more
per test; ``FUZZ_RANDOM=1`` draws fresh cases. The number of cases tried is printed in pytest's terminal
summary ("format fuzzing") and recorded as the junit property ``fuzz_cases``.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import resource
import shutil
import struct
import tempfile
import zlib
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from panoptic_nerfstudio.cli.validate_command import Validate
from panoptic_nerfstudio.data.frame_decoding import decode_frame
from panoptic_nerfstudio.data.panoptic_datamanager import PanopticDataManagerConfig
from panoptic_nerfstudio.data.panoptic_dataparser import PanopticDataParserConfig
from panoptic_nerfstudio.data.panoptic_format import (
    MAX_IMAGE_PIXELS,
    Category,
    ClassTable,
    PanopticFormatError,
    PanopticFrame,
    SegmentInfo,
    read_classes,
    read_confidence,
    read_panoptic,
    write_confidence,
    write_panoptic,
)
from panoptic_nerfstudio.data.validation import validate_scene

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "120")),
    deadline=None,
    derandomize=not os.environ.get("FUZZ_RANDOM"),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
SCENE_FUZZ = settings(FUZZ, max_examples=max(3, FUZZ.max_examples // 30))
"""Per parametrized kind of breakage (there are about 90 kinds)."""

CASES: Counter = Counter()
"""Cases tried per test, reported in the terminal summary."""


class _CaseCountReport:
    """A plugin registered while this module runs: adds the case counts to pytest's terminal summary."""

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not CASES:
            return
        terminalreporter.write_sep("-", "format fuzzing")
        for name, count in sorted(CASES.items()):
            terminalreporter.write_line(f"{name}: {count} cases")
        terminalreporter.write_line(
            f"{sum(CASES.values())} malformed inputs tried in all; each ended in a PanopticFormatError naming "
            "its file, a validation problem naming it, or a read that obeys the contract"
        )


@pytest.fixture(scope="module", autouse=True)
def _report_case_counts(request):
    plugins = request.config.pluginmanager
    if not plugins.has_plugin("format-fuzzing-cases"):
        plugins.register(_CaseCountReport(), "format-fuzzing-cases")
    yield


@pytest.fixture(autouse=True)
def _record_case_count(request, record_property):
    before = CASES[request.node.originalname]
    yield
    record_property("fuzz_cases", CASES[request.node.originalname] - before)


def _count(request) -> None:
    CASES[request.node.originalname] += 1


# ----------------------------------------------------------------------------- a small valid frame

CLASSES = ClassTable(
    [
        Category(1, "wall", False, (200, 200, 200)),
        Category(2, "floor", False, (100, 80, 60)),
        Category(5, "chair", True, (10, 200, 10)),
        Category(7, "lamp", True, (250, 200, 0)),
    ]
)
SIZE = (16, 12)  # (W, H)
SEGMENTS = [SegmentInfo(1, 1, False, 0.9), SegmentInfo(2, 5, True, 0.8), SegmentInfo(300, 5, True, 0.7)]


def _base_ids() -> np.ndarray:
    ids = np.zeros((SIZE[1], SIZE[0]), dtype=np.int64)
    ids[:, :8] = 1
    ids[2:6, 9:13] = 2
    ids[7:11, 3:7] = 300
    return ids  # a few void pixels remain on the right


def _base_files() -> Tuple[bytes, str, bytes]:
    """PNG bytes, JSON text and confidence PNG bytes of the valid frame, as the writers produce them."""
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "m.png"
        write_panoptic(png, PanopticFrame(_base_ids(), list(SEGMENTS)))
        write_confidence(Path(tmp) / "c.png", np.linspace(0, 1, SIZE[0] * SIZE[1]).reshape(SIZE[1], SIZE[0]))
        return png.read_bytes(), png.with_suffix(".json").read_text(), (Path(tmp) / "c.png").read_bytes()


BASE_PNG, BASE_JSON, BASE_CONFIDENCE = _base_files()
BASE_DOC = json.loads(BASE_JSON)


class Frame:
    """One frame's files in a fresh directory (hypothesis examples cannot share pytest's tmp_path)."""

    def __init__(self, png: bytes = BASE_PNG, text: str | bytes = BASE_JSON, confidence: Optional[bytes] = None):
        self._dir = tempfile.TemporaryDirectory()
        root = Path(self._dir.name)
        self.png, self.json, self.confidence = root / "frame.png", root / "frame.json", root / "conf.png"
        self.png.write_bytes(png)
        self.json.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
        if confidence is not None:
            self.confidence.write_bytes(confidence)

    def __enter__(self) -> "Frame":
        return self

    def __exit__(self, *exc) -> None:
        self._dir.cleanup()

    def decode(self, confidence: bool = False):
        return decode_frame(self.png, CLASSES, SIZE, self.confidence if confidence else None)


def outcome(read: Callable[[], Any]) -> Tuple[Optional[Any], Optional[PanopticFormatError]]:
    """(result, None) or (None, error). Any exception other than PanopticFormatError escapes: a test failure."""
    try:
        return read(), None
    except PanopticFormatError as err:
        return None, err


def assert_names(err: PanopticFormatError, *paths: Path) -> None:
    assert err.path in paths, f"error names {err.path}, expected one of {paths}: {err}"
    assert str(err.path) in str(err) and err.problem, str(err)


def assert_contract(frame: PanopticFrame, doc: Any) -> None:
    """What an accepted read guarantees: nothing dropped, everything typed and in range, every id described."""
    assert len(frame.segments) == len(doc["segments_info"])  # no silent skip
    ids = {s.id for s in frame.segments}
    assert len(ids) == len(frame.segments)
    for s in frame.segments:
        assert type(s.id) is int and 0 < s.id < 256**3
        assert type(s.category_id) is int and type(s.isthing) is bool
        assert type(s.score) is float and math.isfinite(s.score) and 0.0 <= s.score <= 1.0
    present = set(np.unique(frame.ids).tolist()) - {0}
    assert present <= ids


# ----------------------------------------------------------------------------- PNG forging


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def forge_png(width: int, height: int, bit_depth: int, color_type: int, payload: bytes) -> bytes:
    """A PNG with whatever header we like: sizes, depths and colour types no encoder would write."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", payload) + _chunk(b"IEND", b"")


def png_header(data: bytes) -> Optional[Tuple[int, int]]:
    """(bit depth, colour type) if ``data`` starts like a PNG, else None (the test's own oracle)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 26 or data[12:16] != b"IHDR":
        return None
    return data[24], data[25]


def idat_span(data: bytes) -> Tuple[int, int]:
    """(start, length) of the first IDAT chunk's data."""
    pos = 8
    while pos + 8 <= len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        if data[pos + 4 : pos + 8] == b"IDAT":
            return pos + 8, length
        pos += 12 + length
    raise AssertionError("no IDAT chunk")


def encode(array: np.ndarray, mode: Optional[str], fmt: str) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(array) if mode is None else Image.fromarray(array).convert(mode)
    image.save(buffer, format=fmt)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- JSON strategies

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0, 1, 2, 5, 7, 300, -1, 256**3 - 1, 256**3, 2**31, 2**63])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0.0, 0.5, 1.0, 1.5, -0.1, 2.0, 5.0, math.nan, math.inf, -math.inf])
    | st.text(max_size=6)
    | st.sampled_from(["", "1", "5", "NaN", "true"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=10,
)
DELETE = object()


def has_nonfinite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, list):
        return any(has_nonfinite(v) for v in value)
    if isinstance(value, dict):
        return any(has_nonfinite(v) for v in value.values())
    return False


def is_int(value: Any) -> bool:
    return type(value) is int


def segment_entry_ok(index: int, key: str, value: Any) -> bool:
    """Oracle: is the base frame still valid once segments_info[index][key] is replaced by value (or deleted)?"""
    if value is DELETE:
        return key in ("score", "extra")
    if has_nonfinite(value):
        return False  # NaN / Infinity literals are not JSON
    entry = BASE_DOC["segments_info"][index]
    if key == "extra":
        return True
    if key == "id":
        return is_int(value) and value == entry["id"]
    if key == "isthing":
        return value is entry["isthing"]
    if key == "score":
        return type(value) in (int, float) and 0.0 <= value <= 1.0
    assert key == "category_id"
    if not is_int(value) or value not in CLASSES or CLASSES.by_id(value).isthing != entry["isthing"]:
        return False
    others = [s for n, s in enumerate(BASE_DOC["segments_info"]) if n != index]
    return CLASSES.by_id(value).isthing or all(s["category_id"] != value for s in others)


# ----------------------------------------------------------------------------- segments_info


@FUZZ
@given(
    index=st.integers(0, len(SEGMENTS) - 1),
    key=st.sampled_from(["id", "category_id", "isthing", "score", "extra"]),
    value=st.one_of(st.just(DELETE), json_values),
)
def test_segment_entry_field_mutations(request, index, key, value):
    """Missing keys, wrong types, non-integer categories, ids out of range or repeated, NaN scores..."""
    _count(request)
    doc = json.loads(BASE_JSON)
    entry = doc["segments_info"][index]
    if value is DELETE:
        entry.pop(key, None)
    else:
        entry[key] = value
    with Frame(text=json.dumps(doc, allow_nan=True)) as frame:
        decoded, err = outcome(frame.decode)
        if segment_entry_ok(index, key, value):
            assert err is None, f"valid input refused: {err}"
            assert decoded.segment_ids.tolist() == [0, 1, 2, 300]
            assert_contract(read_panoptic(frame.png), doc)
        else:
            assert err is not None, f"{key}={value!r} accepted"
            assert_names(err, frame.json, frame.png)


@FUZZ
@given(doc=st.one_of(json_values, st.fixed_dictionaries({"segments_info": json_values})))
def test_arbitrary_segments_info_documents(request, doc):
    _count(request)
    with Frame(text=json.dumps(doc, allow_nan=True)) as frame:
        read, err = outcome(lambda: read_panoptic(frame.png))
        if err is not None:
            assert_names(err, frame.json, frame.png)
        else:
            assert_contract(read, doc)
        decoded, err = outcome(frame.decode)
        if read is None:
            assert err is not None
        if err is not None:
            assert_names(err, frame.json, frame.png)


@FUZZ
@given(entries=st.lists(st.sampled_from(range(len(SEGMENTS))), min_size=0, max_size=6))
def test_empty_partial_and_repeated_segment_lists(request, entries):
    """Empty segments_info, entries missing for ids in the PNG, and duplicate ids."""
    _count(request)
    doc = {"segments_info": [BASE_DOC["segments_info"][n] for n in entries]}
    with Frame(text=json.dumps(doc)) as frame:
        decoded, err = outcome(frame.decode)
        complete = sorted(set(entries)) == list(range(len(SEGMENTS)))
        if complete and len(entries) == len(SEGMENTS):
            assert err is None and len(decoded.segment_ids) == 4
        else:
            assert err is not None, entries
            assert_names(err, frame.json, frame.png)
            assert ("repeats segment id" in err.problem) == (len(set(entries)) < len(entries))


@FUZZ
@given(
    how=st.sampled_from(["truncate", "replace", "insert", "not_utf8", "nesting", "bom", "duplicate_key"]),
    position=st.floats(0, 1, exclude_max=True),
    junk=st.binary(min_size=1, max_size=8),
)
def test_broken_json_text(request, how, position, junk):
    _count(request)
    raw = BASE_JSON.encode()
    cut = int(position * len(raw))
    valid_expected = how == "bom"
    if how == "truncate":
        text = raw[:cut]
    elif how == "replace":
        text = raw[:cut] + junk + raw[cut + len(junk) :]
    elif how == "insert":
        text = raw[:cut] + junk + raw[cut:]
    elif how == "not_utf8":
        text = raw[:cut] + b"\xff\xfe" + raw[cut:]
    elif how == "nesting":
        text = b'{"segments_info": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    elif how == "bom":
        text = "\ufeff".encode() + raw
    else:
        text = raw.replace(b'"category_id"', b'"isthing": false, "category_id"', 1)
    with Frame(text=text) as frame:
        read, err = outcome(lambda: read_panoptic(frame.png))
        if valid_expected:
            assert err is None and read.segments == SEGMENTS
        elif err is None:  # a mutation may keep the document valid (whitespace, a digit in a score...)
            assert_contract(read, json.loads(text.decode("utf-8-sig")))
        else:
            assert_names(err, frame.json, frame.png)
        only_newline_cut = how == "truncate" and cut >= len(raw) - 1
        if how in ("truncate", "not_utf8", "nesting", "duplicate_key") and not only_newline_cut:
            assert err is not None, how


# ----------------------------------------------------------------------------- panoptic PNG bytes


@FUZZ
@given(position=st.floats(0, 1, exclude_max=True))
def test_truncated_panoptic_png(request, position):
    _count(request)
    cut = int(position * len(BASE_PNG))
    start, length = idat_span(BASE_PNG)
    with Frame(png=BASE_PNG[:cut]) as frame:
        read, err = outcome(lambda: read_panoptic(frame.png))
        if err is None:  # only the trailer was cut: the pixels must then be exactly the original ones
            assert np.array_equal(read.ids, _base_ids())
        else:
            assert_names(err, frame.png)
        if cut < start + length // 2:
            assert err is not None, f"truncated at {cut} of {len(BASE_PNG)} bytes but accepted"


@FUZZ
@given(edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=6))
def test_corrupted_panoptic_png_bytes(request, edits):
    _count(request)
    data = bytearray(BASE_PNG)
    for position, byte in edits:
        data[int(position * len(data))] = byte
    with Frame(png=bytes(data)) as frame:
        read, err = outcome(lambda: read_panoptic(frame.png))
        if err is None:
            assert read.ids.shape == (SIZE[1], SIZE[0])
            assert_contract(read, BASE_DOC)
        else:
            assert_names(err, frame.png, frame.json)
        decoded, err = outcome(frame.decode)
        if err is not None:
            assert_names(err, frame.png, frame.json)


dimensions = st.one_of(st.integers(0, 40), st.sampled_from([SIZE[0], SIZE[1]]), st.integers(2**13 + 1, 2**32 - 1))


@FUZZ
@given(
    width=dimensions,
    height=dimensions,
    bit_depth=st.one_of(st.sampled_from([1, 2, 4, 8, 16]), st.integers(0, 255)),
    color_type=st.one_of(st.sampled_from([0, 2, 3, 4, 6]), st.integers(0, 255)),
    payload=st.one_of(
        st.binary(max_size=64),
        st.binary(max_size=2048).map(zlib.compress),
        st.integers(0, 4096).map(lambda n: zlib.compress(b"\x00" * n)),  # all-void rows: decodes if the size fits
    ),
)
def test_forged_png_headers(request, width, height, bit_depth, color_type, payload):
    """Wrong bit depths and colour types, empty sizes and giant declared sizes (decompression bombs)."""
    _count(request)
    data = forge_png(width, height, bit_depth, color_type, payload)
    with Frame(png=data, confidence=data) as frame:
        read, err = outcome(lambda: read_panoptic(frame.png))
        if err is None:
            assert (bit_depth, color_type) == (8, 2) and read.ids.shape == (height, width)
            assert_contract(read, BASE_DOC)
        else:
            assert_names(err, frame.png, frame.json)
            if width * height > MAX_IMAGE_PIXELS:
                assert "declares" in err.problem or "bit" in err.problem, err
        conf, err = outcome(lambda: read_confidence(frame.confidence))
        if err is None:
            assert (bit_depth, color_type) == (16, 0) and conf.shape == (height, width)
        else:
            assert_names(err, frame.confidence)
        for with_confidence in (False, True):  # the confidence copy is 8-bit RGB at best: then refused
            decoded, err = outcome(lambda: frame.decode(confidence=with_confidence))
            if err is None:
                assert (width, height) == SIZE and (bit_depth, color_type) == (8, 2) and not with_confidence
            else:
                assert_names(err, frame.png, frame.json, frame.confidence)


def test_giant_declared_sizes_are_refused_without_allocating(request):
    """A header claiming 60000 x 60000 (10.8 GB of RGB) must be refused from the header alone."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows = zlib.compress(b"\x00" * (60000 * 3 + 1) * 64)  # some real rows: a decoder would start allocating
    for width, height in [(60000, 60000), (MAX_IMAGE_PIXELS // 4096 + 1, 4096), (2**31 - 1, 1), (1, 2**31 - 1)]:
        _count(request)
        with Frame(png=forge_png(width, height, 8, 2, rows)) as frame:
            _, err = outcome(lambda: read_panoptic(frame.png))
            assert err is not None and "declares" in err.problem and err.path == frame.png
            _, err = outcome(frame.decode)  # the decoder refuses it too (size mismatch, from the header)
            assert err is not None and err.path == frame.png
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 256, f"peak memory grew by {grown_mib:.0f} MiB"


def test_sixteen_bit_rgb_mask_is_refused_not_truncated(request):
    """Pillow reads 48-bit RGB as 8-bit RGB by dropping the low bytes, which would silently change every id."""
    _count(request)
    ids = _base_ids()
    rgb16 = np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1).astype(">u2") * 257
    rows = b"".join(b"\x00" + row.tobytes() for row in rgb16)
    with Frame(png=forge_png(SIZE[0], SIZE[1], 16, 2, zlib.compress(rows))) as frame:
        _, err = outcome(lambda: read_panoptic(frame.png))
        assert err is not None and "16-bit" in err.problem and err.path == frame.png


MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16", "F", "CMYK"]
FORMATS = ["PNG", "JPEG", "BMP", "TIFF", "GIF", "WEBP"]


@FUZZ
@given(mode=st.sampled_from(MODES), fmt=st.sampled_from(FORMATS), layer=st.sampled_from(["panoptic", "confidence"]))
def test_wrong_image_mode_or_file_format(request, mode, fmt, layer):
    if layer == "panoptic":
        source = np.asarray(Image.open(io.BytesIO(BASE_PNG)))
    else:
        source = (np.linspace(0, 65535, SIZE[0] * SIZE[1]).reshape(SIZE[1], SIZE[0])).astype(np.uint16)
    try:
        data = encode(source, None if (mode, layer) in (("RGB", "panoptic"), ("I;16", "confidence")) else mode, fmt)
    except (OSError, ValueError, KeyError):
        return  # Pillow cannot write this mode in this format: nothing to test
    _count(request)
    expected = {"panoptic": (8, 2), "confidence": (16, 0)}[layer]
    with Frame(png=data if layer == "panoptic" else BASE_PNG, confidence=data) as frame:
        target = frame.png if layer == "panoptic" else frame.confidence
        read, err = outcome(lambda: read_panoptic(frame.png) if layer == "panoptic" else read_confidence(target))
        if png_header(data) == expected:
            assert err is None, err
        else:
            assert err is not None, f"{mode} {fmt} {layer} accepted"
            assert_names(err, target, frame.json)


# ----------------------------------------------------------------------------- class table

BASE_CLASSES_DOC = {
    "categories": [{"id": c.id, "name": c.name, "isthing": c.isthing, "color": list(c.color)} for c in CLASSES.categories]
}


def category_entry_ok(index: int, key: str, value: Any) -> bool:
    if value is DELETE:
        return key in ("color", "extra")
    if has_nonfinite(value):
        return False
    if key == "extra":
        return True
    if key == "id":
        others = [c["id"] for n, c in enumerate(BASE_CLASSES_DOC["categories"]) if n != index]
        return is_int(value) and value >= 0 and value not in others
    if key == "name":
        return isinstance(value, str) and bool(value)
    if key == "isthing":
        return type(value) is bool
    assert key == "color"
    return isinstance(value, list) and len(value) == 3 and all(is_int(v) and 0 <= v <= 255 for v in value)


@FUZZ
@given(
    index=st.integers(0, len(CLASSES) - 1),
    key=st.sampled_from(["id", "name", "isthing", "color", "extra"]),
    value=st.one_of(st.just(DELETE), json_values, st.lists(st.integers(-2, 300), min_size=2, max_size=4)),
)
def test_class_table_field_mutations(request, index, key, value):
    _count(request)
    doc = json.loads(json.dumps(BASE_CLASSES_DOC))
    if value is DELETE:
        doc["categories"][index].pop(key, None)
    else:
        doc["categories"][index][key] = value
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "panoptic_classes.json"
        path.write_text(json.dumps(doc, allow_nan=True))
        table, err = outcome(lambda: read_classes(path))
        if category_entry_ok(index, key, value):
            assert err is None, err
            assert len(table) == len(CLASSES)  # nothing dropped
        else:
            assert err is not None, f"{key}={value!r} accepted"
            assert_names(err, path)


@FUZZ
@given(doc=st.one_of(json_values, st.fixed_dictionaries({"categories": json_values})))
def test_arbitrary_class_table_documents(request, doc):
    _count(request)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "panoptic_classes.json"
        path.write_text(json.dumps(doc, allow_nan=True))
        table, err = outcome(lambda: read_classes(path))
        if err is not None:
            assert_names(err, path)
        else:
            assert len(table) == len(doc["categories"]) > 0
            assert len({c.id for c in table.categories}) == len(table)


# ----------------------------------------------------------------------------- whole scenes: validate and training

# Each breaker is certain to break the contract and returns the path fragment its problem must name. They are
# enumerated (and parametrized below) so that every kind runs in every test run; hypothesis varies the details.
Breaker = Callable[[Path, str, st.DataObject], str]


def _frame_file(scene: Path, folder: str, stem: str, ext: str = ".png") -> Tuple[Path, str]:
    return scene / folder / f"{stem}{ext}", f"/{folder}/{stem}{ext}"


def _png_breaker(folder: str, how: str) -> Breaker:
    def apply(scene: Path, stem: str, data: st.DataObject) -> str:
        path, fragment = _frame_file(scene, folder, stem)
        raw = path.read_bytes()
        with Image.open(path) as img:
            width, height = img.size
        pixels = np.full((height, width, 3), 7, dtype=np.uint8)  # same size: the format or mode is what is wrong
        if how == "truncate":
            start, length = idat_span(raw)
            path.write_bytes(raw[: data.draw(st.integers(0, start + length // 2 - 1), label="cut")])
        elif how == "giant":
            side = data.draw(st.integers(2**13 + 1, 2**20), label="side")
            path.write_bytes(forge_png(side, side, 8, 2, zlib.compress(b"\x00" * 4096)))
        elif how == "depth":
            bits = data.draw(st.sampled_from([1, 2, 4]), label="bits")
            path.write_bytes(forge_png(width, height, bits, 0, zlib.compress(b"\x00" * (width + 1) * height)))
        elif how == "format":
            fmt = data.draw(st.sampled_from(["JPEG", "BMP", "TIFF", "GIF"]), label="fmt")
            path.write_bytes(encode(pixels, None, fmt))
        elif how == "mode":
            path.write_bytes(encode(pixels, data.draw(st.sampled_from(["P", "LA", "RGBA", "L"]), label="mode"), "PNG"))
        elif how == "empty":
            path.write_bytes(b"")
        else:
            assert how == "size"
            with Image.open(path) as img:
                img.crop((0, 0, width - data.draw(st.integers(1, width - 1), label="crop"), height)).save(path)
        return fragment

    return apply


def _json_breaker(folder: str, how: str) -> Breaker:
    def apply(scene: Path, stem: str, data: st.DataObject) -> str:
        path, _ = _frame_file(scene, folder, stem, ".json")
        doc = json.loads(path.read_text())
        entries = doc["segments_info"]
        entry = data.draw(st.sampled_from(entries), label="entry")
        if how == "nan_score":
            entry["score"] = data.draw(st.sampled_from([math.nan, math.inf, -math.inf]), label="score")
        elif how == "bad_score":
            entry["score"] = data.draw(st.sampled_from([-0.5, 1.5, "0.9", None, True, [0.5]]), label="score")
        elif how == "missing_key":
            del entry[data.draw(st.sampled_from(["id", "category_id", "isthing"]), label="key")]
        elif how == "id_type":
            wrong = [str(entry["id"]), float(entry["id"]), None, True, [1]]
            entry["id"] = data.draw(st.sampled_from(wrong), label="id")
        elif how == "id_range":
            entry["id"] = data.draw(st.sampled_from([0, -5, 256**3, 2**40]), label="id")
        elif how == "duplicate_id":
            entries.append(dict(entry))
        elif how == "unknown_category":
            entry["category_id"] = data.draw(st.integers(1000, 2**40) | st.integers(-(2**40), -1), label="category")
        elif how == "category_type":
            entry["category_id"] = data.draw(
                st.sampled_from([entry["category_id"] + 0.5, str(entry["category_id"]), None, False]), label="category"
            )
        elif how == "isthing_flipped":
            entry["isthing"] = not entry["isthing"]
        elif how == "empty_segments":
            doc["segments_info"] = []
        elif how == "top_level_list":
            doc = entries
        if how == "truncated":
            text = json.dumps(doc)
            path.write_text(text[: data.draw(st.integers(0, len(text) - 1), label="cut")])
        elif how == "duplicate_key":
            path.write_text(json.dumps(doc).replace('"id":', '"id": 1, "id":', 1))
        elif how == "not_utf8":
            path.write_bytes(b"\xff\xfe" + json.dumps(doc).encode())
        else:
            path.write_text(json.dumps(doc, allow_nan=True))
        return f"/{folder}/{stem}."  # the JSON, or its PNG where an id lost its entry

    return apply


def _missing_mask(scene: Path, stem: str, data: st.DataObject) -> str:
    path, fragment = _frame_file(scene, "panoptic", stem)
    path.unlink()
    if data.draw(st.booleans(), label="json too"):
        path.with_suffix(".json").unlink()
    return fragment


def _named_but_missing(key: str) -> Breaker:
    def apply(scene: Path, stem: str, data: st.DataObject) -> str:
        meta = json.loads((scene / "transforms.json").read_text())
        frame = next(f for f in meta["frames"] if Path(f["file_path"]).stem == stem)
        frame[key] = data.draw(st.sampled_from(["elsewhere/none.png", f"panoptic/{stem}_typo.png"]), label="name")
        (scene / "transforms.json").write_text(json.dumps(meta))
        return "/" + frame[key]

    return apply


def _image_breaker(how: str) -> Breaker:
    def apply(scene: Path, stem: str, data: st.DataObject) -> str:
        path, fragment = _frame_file(scene, "images", stem)
        if how == "truncate":
            raw = path.read_bytes()
            start, length = idat_span(raw)
            path.write_bytes(raw[: data.draw(st.integers(0, start + length // 2 - 1), label="cut")])
        elif how == "giant":
            path.write_bytes(forge_png(2**15, 2**15, 8, 2, zlib.compress(b"\x00" * 4096)))
        elif how == "mode":
            mode = data.draw(st.sampled_from(["P", "LA", "I", "CMYK"]), label="mode")
            with Image.open(path) as img:
                converted = img.convert(mode)
            converted.save(path, format="PNG" if mode in ("P", "LA") else "TIFF")  # PNG cannot hold I or CMYK
        else:
            assert how == "delete"
            path.unlink()
        return fragment

    return apply


PNG_HOWS = ["truncate", "giant", "depth", "format", "mode", "empty", "size"]
JSON_HOWS = ["nan_score", "bad_score", "missing_key", "id_type", "id_range", "duplicate_id", "unknown_category",
             "category_type", "isthing_flipped", "empty_segments", "top_level_list", "truncated", "duplicate_key",
             "not_utf8"]
TRAINING_BREAKERS: Dict[str, Breaker] = {
    **{f"panoptic-png-{how}": _png_breaker("panoptic", how) for how in PNG_HOWS},
    **{f"confidence-png-{how}": _png_breaker("confidence", how) for how in PNG_HOWS},
    **{f"panoptic-json-{how}": _json_breaker("panoptic", how) for how in JSON_HOWS},
    **{f"image-{how}": _image_breaker(how) for how in ["truncate", "giant", "mode", "delete"]},
    "missing-mask": _missing_mask,
    "named-confidence-missing": _named_but_missing("confidence_file_path"),
}
FRAME_BREAKERS: Dict[str, Breaker] = {
    **TRAINING_BREAKERS,
    **{f"gt-png-{how}": _png_breaker("gt_panoptic", how) for how in PNG_HOWS},
    **{f"gt-json-{how}": _json_breaker("gt_panoptic", how) for how in JSON_HOWS},
    "named-gt-missing": _named_but_missing("gt_panoptic_file_path"),
    "named-panoptic-missing": _named_but_missing("panoptic_file_path"),
}


def break_scene(scene: Path, how: str, data: st.DataObject) -> str:
    """Break something every frame depends on: the class table or transforms.json."""
    classes = scene / "panoptic_classes.json"
    if how in ("classes-value", "classes-no-thing"):
        doc = json.loads(classes.read_text())
        if how == "classes-no-thing":
            for entry in doc["categories"]:
                entry["isthing"] = False
        else:
            entry = data.draw(st.sampled_from(doc["categories"]), label="entry")
            key = data.draw(st.sampled_from(["id", "name", "isthing", "color"]), label="key")
            value = data.draw(st.sampled_from([None, -1, [1, 2], 1.5, math.nan, {"a": 1}, "3", ""]), label="value")
            if key == "id" and value == "" or key == "name" and value == "3":
                value = None
            entry[key] = value
        classes.write_text(json.dumps(doc, allow_nan=True))
        return "/panoptic_classes.json"
    if how == "classes-truncated":
        text = classes.read_text()
        classes.write_text(text[: data.draw(st.integers(0, len(text) - 2), label="cut")])
        return "/panoptic_classes.json"
    if how == "classes-missing":
        classes.unlink()
        return "/panoptic_classes.json"
    meta = json.loads((scene / "transforms.json").read_text())
    frame = data.draw(st.sampled_from(meta["frames"]), label="frame")
    if how == "layer-type":
        key = data.draw(st.sampled_from(["panoptic_file_path", "confidence_file_path", "gt_panoptic_file_path"]))
        frame[key] = data.draw(st.sampled_from([5, [], {"a": "b"}, True, 2.5]), label="value")
    elif how == "file-path-type":
        frame["file_path"] = data.draw(st.sampled_from([None, 7, ["images/x.png"]]), label="value")
    else:
        assert how == "frames-type"
        meta["frames"] = data.draw(st.sampled_from([[], {}, None, "frames", [3]]), label="frames")
    (scene / "transforms.json").write_text(json.dumps(meta))
    return "/transforms.json"


SCENE_BREAKS = ["classes-value", "classes-no-thing", "classes-truncated", "classes-missing", "layer-type",
                "file-path-type", "frames-type"]


def _stems(scene: Path) -> List[str]:
    return [Path(f["file_path"]).stem for f in json.loads((scene / "transforms.json").read_text())["frames"]]


@contextlib.contextmanager
def scene_copy(master: Path):
    with tempfile.TemporaryDirectory() as tmp:
        scene = Path(tmp) / "scene"
        shutil.copytree(master, scene)
        yield scene


def _validate_and_check(scene: Path, expected: List[str], broken_frames: Optional[int], capsys) -> None:
    report = validate_scene(scene)
    assert not report.ok
    for fragment in expected:
        assert any(fragment in problem for problem in report.problems), (fragment, report.problems)
    if broken_frames is not None:  # nothing skipped: each frame is valid or has exactly its one problem
        assert len(report.problems) == broken_frames, report.problems
        assert len(report.frames) + broken_frames == report.total_frames
    capsys.readouterr()
    assert Validate(scene=scene).main() == 1
    printed = capsys.readouterr().out
    assert all(fragment in printed for fragment in expected) and "Traceback" not in printed


@pytest.mark.parametrize("kind", sorted(FRAME_BREAKERS))
@settings(SCENE_FUZZ)
@given(data=st.data())
def test_validate_names_every_broken_file(request, tiny_scene_master, capsys, kind, data):
    """A frame broken this way, plus up to two other frames broken in random ways: every problem is reported
    naming its file, every other frame still counts as valid, and ``ns-panoptic validate`` exits 1 printing them."""
    _count(request)
    with scene_copy(tiny_scene_master) as scene:
        stems = data.draw(st.permutations(_stems(scene)), label="frames")
        others = data.draw(st.lists(st.sampled_from(sorted(FRAME_BREAKERS)), max_size=2), label="others")
        expected = [FRAME_BREAKERS[kind](scene, stems[0], data)]
        expected += [FRAME_BREAKERS[other](scene, stem, data) for other, stem in zip(others, stems[1:])]
        _validate_and_check(scene, expected, 1 + len(others), capsys)


@pytest.mark.parametrize("how", SCENE_BREAKS)
@settings(SCENE_FUZZ)
@given(data=st.data())
def test_validate_names_a_broken_scene_file(request, tiny_scene_master, capsys, how, data):
    _count(request)
    with scene_copy(tiny_scene_master) as scene:
        _validate_and_check(scene, [break_scene(scene, how, data)], None, capsys)


@pytest.mark.parametrize("kind", sorted(TRAINING_BREAKERS))
@settings(FUZZ, max_examples=max(2, FUZZ.max_examples // 40))
@given(data=st.data())
def test_training_setup_stops_naming_the_broken_file(request, tiny_scene_master, kind, data):
    """The same hostile files stop ``ns-train`` before training: a PanopticFormatError naming the file."""
    _count(request)
    with scene_copy(tiny_scene_master) as scene:
        stem = data.draw(st.sampled_from(_stems(scene)), label="frame")
        fragment = TRAINING_BREAKERS[kind](scene, stem, data)
        config = PanopticDataManagerConfig(dataparser=PanopticDataParserConfig(data=scene))
        with pytest.raises(PanopticFormatError) as err:
            config.setup(device="cpu", test_mode="val")
        assert fragment in str(err.value), (fragment, str(err.value))
