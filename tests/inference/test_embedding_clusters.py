"""Clustering embeddings into 3D instances: synthetic embeddings, and the calibration on a toy model."""

import torch
import torch.nn.functional as F

from panoptic_nerfstudio.inference.embedding_clusters import class_centres, cluster_centres, thing_embeddings


def _blobs(counts, dim=8, spread=0.03, seed=0):
    g = torch.Generator().manual_seed(seed)
    means = F.normalize(torch.randn(len(counts), dim, generator=g), dim=-1)
    points = torch.cat([m + spread * torch.randn(n, dim, generator=g) for m, n in zip(means, counts)])
    return means, points


def test_well_separated_blobs_give_one_centre_each_largest_first():
    counts = [300, 500, 200, 400]
    means, points = _blobs(counts)
    centres = cluster_centres(points, min_cluster_fraction=0.02)
    assert centres.shape == (4, 8)
    order = sorted(range(4), key=lambda i: -counts[i])
    for centre, blob in zip(centres, order):
        assert torch.dist(centre, means[blob]) < 0.02


def test_more_objects_than_the_slot_head_has_slots():
    counts = [60] * 50
    means, points = _blobs(counts, dim=12, spread=0.01, seed=1)
    centres = cluster_centres(points, min_cluster_fraction=0.005)
    assert len(centres) == 50
    nearest = torch.cdist(means, centres).argmin(dim=1)
    assert len(nearest.unique()) == 50  # one centre per object


def test_a_few_stray_points_found_no_cluster():
    means, points = _blobs([400, 400])
    strays = torch.randn(5, 8) * 3
    centres = cluster_centres(torch.cat([points, strays]), min_cluster_fraction=0.02)
    assert len(centres) == 2


def test_degenerate_inputs():
    assert cluster_centres(torch.zeros(0, 8), 0.01).shape == (0, 8)
    few = torch.randn(5, 8)
    assert torch.allclose(cluster_centres(few, 0.01), few.mean(dim=0, keepdim=True))
    one = torch.ones(200, 4) + 0.001 * torch.randn(200, 4)
    assert cluster_centres(one, 0.01).shape == (1, 4)  # a single object is a cluster


def test_subsampling_is_deterministic():
    _, points = _blobs([3000, 3000, 3000])
    first = cluster_centres(points, 0.02, max_points=2000)
    second = cluster_centres(points, 0.02, max_points=2000)
    assert torch.equal(first, second) and len(first) == 3


def test_per_class_clusters_never_span_two_classes():
    """Two objects of different classes whose embeddings overlap (0.05 apart, spread 0.02): one cluster when clustered
    jointly, one per class, near its own object's embedding, when each class is clustered apart; a class too small
    for a cluster of the joint minimum size gets none (its pixels take their nearest centre)."""
    g = torch.Generator().manual_seed(0)
    a = F.normalize(torch.randn(8, generator=g), dim=-1)
    b = a + 0.05 * F.normalize(torch.randn(8, generator=g), dim=-1)
    points = torch.cat([a + 0.02 * torch.randn(400, 8, generator=g), b + 0.02 * torch.randn(400, 8, generator=g)])
    classes = torch.tensor([1] * 400 + [2] * 400)
    assert len(cluster_centres(points, 0.02)) == 1
    per_class, of_class = class_centres(points, classes, 0.02)
    assert len(per_class) == 2 and sorted(of_class.tolist()) == [1, 2]
    distances = torch.cdist(per_class, torch.stack([a, b]))
    assert distances.argmin(dim=1).tolist() == (of_class - 1).tolist() and distances.min(dim=1).values.max() < 0.02
    few = torch.cat([classes[:790], torch.full((10,), 3)])  # 10 points of class 3: below 2% of 800
    assert class_centres(points, few, 0.02)[1].tolist() == of_class.tolist()
    assert class_centres(points, None, 0.02)[1].tolist() == [-1]  # joint: a centre of any class


def test_only_thing_pixels_on_a_surface_inside_the_box_are_clustered():
    thing_mask = torch.tensor([False, True])
    semantics = torch.tensor([[[0.9, 0.1], [0.1, 0.9]], [[0.2, 0.8], [0.3, 0.7]]])  # thing at (0,1), (1,0), (1,1)
    outputs = {
        "semantics": semantics,
        "embedding": torch.arange(8, dtype=torch.float32).reshape(2, 2, 2),
        "accumulation": torch.tensor([[[1.0], [1.0]], [[0.1], [1.0]]]),
        "surface_points": torch.tensor([[[0.0, 0, 0], [0, 0, 0]], [[0, 0, 0], [5, 0, 0]]]),
    }
    aabb = torch.tensor([[-1.0, -1, -1], [1, 1, 1]])
    kept, classes = thing_embeddings(outputs, thing_mask, aabb)
    assert kept.tolist() == [[2.0, 3.0]] and classes.tolist() == [1]  # (1,0) is too faint, (1,1) is out of the box
