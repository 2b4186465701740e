"""A small hand-made labeled cloud shared by the export tests."""

import numpy as np

from panoptic_nerfstudio.data.panoptic_format import Category, ClassTable
from panoptic_nerfstudio.export.labeled_points import LabeledPoints

CLASSES = ClassTable(
    [
        Category(0, "wall", False, (174, 199, 232)),
        Category(3, "chair", True, (188, 189, 34)),
        Category(7, "dining table", True, (255, 127, 14)),
    ]
)


def cloud(seed: int = 0) -> LabeledPoints:
    """Stuff points, chairs 3 and 5, a table 8 with a few stray chair points, and a 2-point sliver 9."""
    rng = np.random.default_rng(seed)
    parts = []

    def blob(n, center, class_id, instance_id):
        positions = (rng.normal(size=(n, 3)) * 0.05 + np.asarray(center)).astype(np.float32)
        colors = rng.integers(0, 256, size=(n, 3), dtype=np.uint8)
        parts.append(
            LabeledPoints(
                positions,
                colors,
                np.full(n, class_id, np.int32),
                np.full(n, instance_id, np.int32),
                rng.random(n).astype(np.float32),
            )
        )

    blob(200, (0.0, 0.0, -1.0), 0, 0)
    blob(50, (0.5, 0.0, 0.0), 3, 3)
    blob(40, (-0.5, 0.0, 0.0), 3, 5)
    blob(60, (0.0, 0.5, 0.0), 7, 8)
    blob(4, (0.0, 0.5, 0.1), 3, 8)  # a few of the table's points read as chair
    blob(2, (0.9, 0.9, 0.9), 3, 9)
    return LabeledPoints.concatenate(parts)
