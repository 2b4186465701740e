"""View coverage: a held-out pixel counts the training cameras that see its surface point, and no other."""

import numpy as np

from panoptic_nerfstudio.demo_scene.cameras import intrinsics, look_at
from panoptic_nerfstudio.demo_scene.geometry import Box
from panoptic_nerfstudio.demo_scene.layouts import SceneObject
from panoptic_nerfstudio.demo_scene.view_coverage import pixel_hits, view_counts

INTR = intrinsics(40, 30)
CUBE = SceneObject(5, 5001, (Box((-0.5, -0.5, -0.5), (0.5, 0.5, 0.5)),), None, True)  # type: ignore[arg-type]
ORIGIN = np.zeros(3)


def camera(x: float, y: float, z: float, target=ORIGIN) -> np.ndarray:
    return look_at(np.array([x, y, z], dtype=float), np.asarray(target, dtype=float))


def test_a_face_is_seen_by_the_cameras_in_front_of_it_only():
    target = camera(3.0, 0.0, 0.0)
    sources = [
        camera(3.0, 0.0, 0.0),  # the same view: sees every pixel's point
        camera(3.0, 0.3, 0.2),  # beside it: sees the same face
        camera(-3.0, 0.0, 0.0),  # behind the cube: sees the opposite face only
        camera(3.0, 0.0, 0.0, target=(3.0, 5.0, 0.0)),  # looking away
    ]
    counts = view_counts([CUBE], INTR, pixel_hits([CUBE], INTR, target), sources)
    on_cube = counts >= 0
    assert 0 < on_cube.sum() < counts.size  # the cube fills part of the image, the rest hits nothing (-1)
    assert (counts[~on_cube] == -1).all()
    assert (counts[on_cube] == 2).mean() > 0.95  # rounding at the cube's outline may cost the second camera a pixel
    assert (counts[on_cube] >= 1).all()


def test_an_occluder_hides_the_face_from_a_camera():
    target = camera(3.0, 0.0, 0.0)
    occluder = SceneObject(1, 1000, (Box((1.5, -2.0, -2.0), (1.6, 2.0, 2.0)),), None, False)  # type: ignore[arg-type]
    held_out = camera(1.4, 0.0, 0.0)
    counts = view_counts([CUBE, occluder], INTR, pixel_hits([CUBE, occluder], INTR, held_out), [target])
    # the training camera stands behind the wall: it sees the wall, never the face the held-out camera shows
    assert (counts[counts >= 0] == 0).all()
    counts_without = view_counts([CUBE], INTR, pixel_hits([CUBE], INTR, held_out), [target])
    assert (counts_without[counts_without >= 0] == 1).mean() > 0.95
