import pytest
import torch

from panoptic_nerfstudio.segmentation.tta_merging import (
    Augmentation,
    ProbabilityMerger,
    labels_and_confidence,
    merge_probabilities,
    pixel_distribution,
    tta_augmentations,
)


def two_class_map(left: float, right: float, width: int = 4, height: int = 2) -> torch.Tensor:
    """[2, H, W]: probability of class 0 is ``left`` on the left half and ``right`` on the right half."""
    p0 = torch.cat([torch.full((height, width // 2), left), torch.full((height, width // 2), right)], dim=1)
    return torch.stack([p0, 1.0 - p0])


def test_views_start_with_identity_and_cover_every_scale_and_flip():
    views = tta_augmentations((0.75, 1.0, 1.25), flip=True)
    assert views[0] == Augmentation(1.0, False)
    assert set(views) == {Augmentation(s, f) for s in (0.75, 1.0, 1.25) for f in (False, True)}
    assert len(views) == len(set(views)) == 6
    assert tta_augmentations((1.0,), flip=False) == [Augmentation()]
    assert tta_augmentations((0.5,), flip=False) == [Augmentation(), Augmentation(0.5)]
    with pytest.raises(ValueError):
        tta_augmentations((0.0,))


def test_flipped_view_is_mirrored_back_before_merging():
    original = two_class_map(0.9, 0.1)
    seen_mirrored = original.flip(-1)  # what the model returns for the mirrored image
    merged = merge_probabilities([original, seen_mirrored], [Augmentation(), Augmentation(flip=True)], (2, 4))
    torch.testing.assert_close(merged, original)


def test_merged_map_is_the_mean_and_confidence_the_merged_probability_of_the_chosen_class():
    a = two_class_map(0.9, 0.2)
    b = two_class_map(0.5, 0.6)
    c = two_class_map(0.7, 0.1)
    merged = merge_probabilities([a, b, c], [Augmentation(), Augmentation(0.5), Augmentation(2.0)], (2, 4))
    # left: p0 = (0.9 + 0.5 + 0.7) / 3 = 0.7 -> class 0; right: p0 = 0.3 -> class 1 with 0.7
    labels, confidence = labels_and_confidence(merged)
    assert labels[:, :2].eq(0).all() and labels[:, 2:].eq(1).all()
    torch.testing.assert_close(confidence, torch.full((2, 4), 0.7))


def test_a_disagreeing_view_lowers_confidence_and_can_flip_the_label():
    sure = two_class_map(0.95, 0.95)
    against = two_class_map(0.0, 0.0)
    labels, confidence = labels_and_confidence(merge_probabilities([sure], [Augmentation()], (2, 4)))
    assert labels.eq(0).all() and torch.allclose(confidence, torch.tensor(0.95))
    labels, confidence = labels_and_confidence(
        merge_probabilities([sure, against, against], [Augmentation(), Augmentation(0.5), Augmentation(0.5, True)], (2, 4))
    )
    assert labels.eq(1).all()
    torch.testing.assert_close(confidence, torch.full((2, 4), (0.05 + 1 + 1) / 3))


def test_low_resolution_views_are_resized_to_the_image_and_stay_distributions():
    coarse = torch.tensor([[[0.8, 0.2]], [[0.2, 0.8]]])  # [2, 1, 2]: class 0 left, class 1 right
    merger = ProbabilityMerger((4, 8))
    merger.add(coarse, Augmentation(0.5))
    merged = merger.merged()
    assert merged.shape == (2, 4, 8)
    torch.testing.assert_close(merged.sum(0), torch.ones(4, 8))
    labels, _ = labels_and_confidence(merged)
    assert labels[:, 0].eq(0).all() and labels[:, -1].eq(1).all()
    assert merger.count == 1


def test_pixel_distribution_normalises_and_sends_unclaimed_pixels_to_void():
    scores = torch.tensor([[[2.0, 0.0]], [[6.0, 0.0]], [[0.0, 0.0]]])  # [3 channels, 1, 2]; pixel 2 has no mass
    plain = pixel_distribution(scores)
    torch.testing.assert_close(plain[:, 0, 0], torch.tensor([0.25, 0.75, 0.0]))
    assert plain[:, 0, 1].eq(0).all()
    with_void = pixel_distribution(scores, void_channel=2)
    torch.testing.assert_close(with_void[:, 0, 1], torch.tensor([0.0, 0.0, 1.0]))
    torch.testing.assert_close(with_void[:, 0, 0], plain[:, 0, 0])


def test_merging_nothing_is_an_error():
    with pytest.raises(ValueError):
        ProbabilityMerger((2, 2)).merged()
