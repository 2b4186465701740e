"""The per-frame table of ``ns-panoptic export masks``: every frame of a short capture, the most changed of a long one."""

from panoptic_nerfstudio.cli.label_changes_table import frames_table
from panoptic_nerfstudio.export.label_changes import FrameChanges


def change(n: int) -> FrameChanges:
    return FrameChanges(f"frame_{n:02d}", pixels=100, class_changed=n, void_labelled=0, input_segments=5,
                        exported_segments=5, merged=0, split=0)  # fmt: skip


def test_a_short_capture_lists_every_frame_in_order():
    table = frames_table([change(n) for n in range(3)], max_rows=15)
    assert table.row_count == 3 and list(table.columns[0].cells) == ["frame_00", "frame_01", "frame_02"]


def test_a_long_capture_lists_the_frames_changed_most():
    table = frames_table([change(n) for n in range(20)], max_rows=5)
    assert table.row_count == 5 and "of 20" in str(table.title)
    assert list(table.columns[0].cells) == ["frame_19", "frame_18", "frame_17", "frame_16", "frame_15"]
    assert list(table.columns[1].cells)[0] == "19.0%"
