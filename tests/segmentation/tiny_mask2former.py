"""A tiny, randomly initialised Mask2Former saved like a hub checkpoint, so tests load it through the users' path.

A few hundred thousand weights, 8 queries, 64-pixel inputs: a forward pass takes milliseconds. Two knobs make its
otherwise arbitrary output useful to tests: ``classes`` limits which classes the queries predict (with ``certain``
every query predicts the first of them with probability ~1), and the mask head is sharpened so that queries own
distinct image regions instead of all covering everything at probability 0.5.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import torch

from panoptic_nerfstudio.segmentation.label_map import SHIPPED_DIR

COCO_NAMES = [c["name"] for c in json.loads((SHIPPED_DIR / "coco133.json").read_text())["categories"]]


def save_tiny_mask2former(
    out: Path, classes: Sequence[str], certain: bool = False, seed: int = 2, class_names: Sequence[str] = COCO_NAMES
) -> Path:
    from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation, Mask2FormerImageProcessor, SwinConfig

    torch.manual_seed(seed)
    backbone = SwinConfig(
        embed_dim=8,
        depths=[1, 1, 1, 1],
        num_heads=[1, 1, 1, 1],
        window_size=4,
        image_size=64,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    config = Mask2FormerConfig(
        backbone_config=backbone,
        feature_size=32,  # the pixel decoder's GroupNorm needs multiples of 32
        mask_feature_size=32,
        hidden_dim=32,
        encoder_feedforward_dim=32,
        encoder_layers=1,
        decoder_layers=2,
        num_attention_heads=2,
        dim_feedforward=32,
        num_queries=8,
        num_labels=len(class_names),
        id2label=dict(enumerate(class_names)),
    )
    model = Mask2FormerForUniversalSegmentation(config).eval()
    chosen = [list(class_names).index(name) for name in classes]
    with torch.no_grad():
        head = model.class_predictor
        head.bias.fill_(-8.0)
        head.bias[-1] = -2.0  # no-object
        head.weight.zero_()
        if certain:
            head.bias[chosen[0]] = 20.0
        else:
            head.bias[chosen] = 0.0
            head.weight[chosen] = torch.randn(len(chosen), head.weight.shape[1]) * 20.0
        mask_head = model.model.transformer_module.decoder.mask_predictor.mask_embedder.get_submodule("2.0")
        mask_head.weight.mul_(300.0)
        mask_head.bias.zero_()
    # 64 pixels: at 0.75 x that the deepest feature map is still 2 x 2 (GroupNorm needs more than one value per group)
    processor = Mask2FormerImageProcessor(size={"shortest_edge": 64, "longest_edge": 128})
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
