"""The format fuzzing's harness: hypothesis settings, the count of cases tried, forged PNGs and a small valid frame.

Examples are derandomized (the same cases in every run, so CI is stable). ``FUZZ_EXAMPLES=2000`` runs more
per test; ``FUZZ_RANDOM=1`` draws fresh cases. The number of cases tried is printed in pytest's terminal
summary ("format fuzzing") and recorded as the junit property ``fuzz_cases``; a test module takes part by importing
``report_case_counts`` and ``record_case_count`` (autouse fixtures) and calling ``count_case`` once per case.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import tempfile
import zlib
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Optional, Tuple

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from PIL import Image

from panoptic_nerfstudio.data.frame_decoding import decode_frame
from panoptic_nerfstudio.data.panoptic_format import (
    Category,
    ClassTable,
    PanopticFormatError,
    PanopticFrame,
    SegmentInfo,
    write_panoptic,
)

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
    """A plugin registered while a fuzzing module runs: adds the case counts to pytest's terminal summary."""

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
def report_case_counts(request):
    plugins = request.config.pluginmanager
    if not plugins.has_plugin("format-fuzzing-cases"):
        plugins.register(_CaseCountReport(), "format-fuzzing-cases")
    yield


@pytest.fixture(autouse=True)
def record_case_count(request, record_property):
    before = CASES[request.node.originalname]
    yield
    record_property("fuzz_cases", CASES[request.node.originalname] - before)


def count_case(request) -> None:
    """One more case tried by the running test."""
    CASES[request.node.originalname] += 1


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


def base_ids() -> np.ndarray:
    ids = np.zeros((SIZE[1], SIZE[0]), dtype=np.int64)
    ids[:, :8] = 1
    ids[2:6, 9:13] = 2
    ids[7:11, 3:7] = 300
    return ids  # a few void pixels remain on the right


def _base_files() -> Tuple[bytes, str]:
    """PNG bytes and JSON text of the valid frame, as the writer produces them."""
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "m.png"
        write_panoptic(png, PanopticFrame(base_ids(), list(SEGMENTS)))
        return png.read_bytes(), png.with_suffix(".json").read_text()


BASE_PNG, BASE_JSON = _base_files()
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
