"""Fuzzing the format reader, frame decoding and ``ns-panoptic validate`` with malformed PNGs and JSON.

Users bring masks from many networks and scripts. Whatever the bytes, reading must end in one of two ways:
a :class:`PanopticFormatError` naming the broken file, or a result that obeys the contract (every id in range
and described, finite scores, known categories, nothing dropped). Never a raw KeyError/TypeError/ValueError
from deep inside, never a silent skip. Where a mutation is known to break the contract, the test also
requires the error (an oracle written from docs/format.md), so accepting bad input fails too.

Whole scenes are broken in ``test_scene_fuzzing``; the harness (settings, case counts, forged PNGs, the valid
frame) is ``tests/data/fuzzing.py``.
"""

from __future__ import annotations

import io
import json
import math
import resource
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from panoptic_nerfstudio.data.panoptic_format import (
    MAX_IMAGE_PIXELS,
    read_classes,
    read_confidence,
    read_panoptic,
)
from tests.data.fuzzing import (  # noqa: F401 (the autouse fixtures count the cases)
    BASE_DOC,
    BASE_JSON,
    BASE_PNG,
    CLASSES,
    FUZZ,
    SEGMENTS,
    SIZE,
    Frame,
    base_ids,
    assert_contract,
    assert_names,
    count_case,
    encode,
    forge_png,
    idat_span,
    outcome,
    png_header,
    record_case_count,
    report_case_counts,
)


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
    count_case(request)
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
    count_case(request)
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
    count_case(request)
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
    count_case(request)
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
    count_case(request)
    cut = int(position * len(BASE_PNG))
    start, length = idat_span(BASE_PNG)
    with Frame(png=BASE_PNG[:cut]) as frame:
        read, err = outcome(lambda: read_panoptic(frame.png))
        if err is None:  # only the trailer was cut: the pixels must then be exactly the original ones
            assert np.array_equal(read.ids, base_ids())
        else:
            assert_names(err, frame.png)
        if cut < start + length // 2:
            assert err is not None, f"truncated at {cut} of {len(BASE_PNG)} bytes but accepted"


@FUZZ
@given(edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=6))
def test_corrupted_panoptic_png_bytes(request, edits):
    count_case(request)
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
    count_case(request)
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
        count_case(request)
        with Frame(png=forge_png(width, height, 8, 2, rows)) as frame:
            _, err = outcome(lambda: read_panoptic(frame.png))
            assert err is not None and "declares" in err.problem and err.path == frame.png
            _, err = outcome(frame.decode)  # the decoder refuses it too (size mismatch, from the header)
            assert err is not None and err.path == frame.png
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 256, f"peak memory grew by {grown_mib:.0f} MiB"


def test_sixteen_bit_rgb_mask_is_refused_not_truncated(request):
    """Pillow reads 48-bit RGB as 8-bit RGB by dropping the low bytes, which would silently change every id."""
    count_case(request)
    ids = base_ids()
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
    count_case(request)
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
    count_case(request)
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
    count_case(request)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "panoptic_classes.json"
        path.write_text(json.dumps(doc, allow_nan=True))
        table, err = outcome(lambda: read_classes(path))
        if err is not None:
            assert_names(err, path)
        else:
            assert len(table) == len(doc["categories"]) > 0
            assert len({c.id for c in table.categories}) == len(table)
