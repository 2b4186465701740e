import math

import torch

from panoptic_nerfstudio.evaluation.semantic_metrics import confusion_matrix, iou_from_confusion, mean_iou


def test_hand_computed_miou_ignores_void_targets_and_absent_classes():
    target = torch.tensor([0, 0, 0, 1, 1, -1, -1])
    predicted = torch.tensor([0, 0, 1, 1, 1, 2, 0])
    confusion = confusion_matrix(predicted, target, num_classes=4)
    assert confusion.tolist() == [[2, 1, 0, 0], [0, 2, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    iou = iou_from_confusion(confusion)
    assert iou[0] == 2 / 3 and iou[1] == 2 / 3 and math.isnan(iou[2]) and math.isnan(iou[3])
    assert abs(mean_iou(predicted, target, 4) - 100 * 2 / 3) < 1e-9


def test_perfect_labels_score_100():
    labels = torch.randint(0, 5, (10, 10))
    assert mean_iou(labels, labels, 5) == 100.0
