"""What ``ns-panoptic export masks`` prints: how the exported labels differ from the input masks, per frame
(every frame of a short capture, the frames changed most of a long one) and overall."""

from __future__ import annotations

from typing import Sequence

from rich.table import Table

from panoptic_nerfstudio.export.label_changes import FrameChanges, summarize, worst_frames
from panoptic_nerfstudio.export.mask_export import MaskExport

MAX_FRAME_ROWS = 15


def frames_table(changes: Sequence[FrameChanges], max_rows: int = MAX_FRAME_ROWS) -> Table:
    """One row per frame, in frame order; above ``max_rows`` frames, the ``max_rows`` frames changed most."""
    shown = list(changes)
    title = f"Exported labels against the input masks, per frame ({len(changes)} frames)"
    if len(shown) > max_rows:
        shown = worst_frames(shown, max_rows)
        title = f"The {max_rows} frames whose labels changed most (of {len(changes)})"
    table = Table(title=title)
    for column in ("frame", "class changed", "void labelled", "input segments", "exported segments", "merged", "split"):
        table.add_column(column, justify="left" if column == "frame" else "right")
    for change in shown:
        table.add_row(
            change.name,
            f"{change.class_changed_fraction:.1%}",
            f"{change.void_labelled:,}",
            str(change.input_segments),
            str(change.exported_segments),
            str(change.merged),
            str(change.split),
        )
    table.caption = (
        "class changed: share of the input's labelled pixels; merged: input segments mostly (> 50%) under one exported "
        "segment with another; split: input segments over several exported segments (>= 20% each)"
    )
    return table


def overall_table(result: MaskExport) -> Table:
    total = summarize(result.changes)
    table = Table(title=f"Label transfer: {total.frames} frames, {len(result.instances)} 3D instances")
    table.add_column("overall")
    table.add_column("value", justify="right")
    table.add_row("pixels whose class changed", f"{total.class_changed:,} of {total.pixels:,} ({total.class_changed_fraction:.1%})")
    table.add_row("input void pixels now labelled", f"{total.void_labelled:,}")
    table.add_row("input segments merged", f"{total.merged} of {total.input_segments}")
    table.add_row("input segments split", f"{total.split} of {total.input_segments}")
    if result.quality is not None:
        for name, scores in (("exported", result.quality.exported), ("input masks", result.quality.given)):
            table.add_row(
                f"PQ^scene vs ground truth, {name}",
                f"{scores.all.pq:.1f} (things {scores.things.pq:.1f}, stuff {scores.stuff.pq:.1f})",
            )
    return table
