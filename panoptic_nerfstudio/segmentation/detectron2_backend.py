"""Mask2Former through detectron2 and the authors' Mask2Former project (the paper's own mask generator).

detectron2 and Mask2Former are not on PyPI and need compiling, so they are optional: importing this module never
imports them, and the backend refuses to start with a message saying how to install them.

The conversion of detectron2's panoptic output -- a ``panoptic_seg`` id tensor plus a ``segments_info`` list of
dicts (``id``, ``isthing``, ``category_id`` and, depending on the model, ``score``, ``area``, ``instance_id``) -- is
a pure function, :func:`panoptic_from_detectron2`, usable and tested without detectron2.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import torch

from panoptic_nerfstudio.data.panoptic_format import VOID_ID
from panoptic_nerfstudio.segmentation.backend import (
    BackendUnavailableError,
    ModelPanoptic,
    ModelSegment,
    PanopticThresholds,
    ViewOutput,
)
from panoptic_nerfstudio.segmentation.tta_merging import Augmentation

INSTALL_HINT = (
    "The detectron2 backend needs detectron2 and the Mask2Former project, which are not on PyPI:\n"
    "  pip install 'git+https://github.com/facebookresearch/detectron2.git'   (needs a C++/CUDA compiler matching torch)\n"
    "  git clone https://github.com/facebookresearch/Mask2Former && pip install -r Mask2Former/requirements.txt\n"
    "  cd Mask2Former/mask2former/modeling/pixel_decoder/ops && sh make.sh   (its deformable attention op)\n"
    "  export PYTHONPATH=/path/to/Mask2Former:$PYTHONPATH\n"
    "Then pass --model Mask2Former/configs/coco/panoptic-segmentation/swin/<config>.yaml --weights <checkpoint.pkl> "
    "(checkpoints are listed in Mask2Former's MODEL_ZOO.md). Or use --backend transformers, which needs only pip."
)


class Detectron2OutputError(ValueError):
    """A detectron2 panoptic output that breaks its own structure (ids without segments_info, bad category ids...)."""


def panoptic_from_detectron2(
    panoptic_seg,
    segments_info: Optional[Sequence[dict]],
    class_names: Sequence[str],
    thing_class_names: Optional[Sequence[str]] = None,
) -> ModelPanoptic:
    """Convert one image's detectron2 panoptic output.

    ``class_names`` names ``category_id``. Mask2Former numbers things and stuff in one space (its metadata's
    ``stuff_classes`` lists all 133 COCO classes); detectron2's Panoptic FPN numbers things separately -- pass its
    ``thing_classes`` as ``thing_class_names`` and its ``stuff_classes`` as ``class_names``.
    """
    if segments_info is None:
        raise Detectron2OutputError(
            "segments_info is None: the model returned a semantic-style panoptic map (pixel value = class id), "
            "not segments; use a panoptic model"
        )
    if isinstance(panoptic_seg, torch.Tensor):
        panoptic_seg = panoptic_seg.detach().cpu().numpy()
    ids = np.asarray(panoptic_seg)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise Detectron2OutputError(f"panoptic_seg must be an [H, W] integer map, got {ids.dtype} {ids.shape}")
    ids = ids.astype(np.int64)
    ids[ids < 0] = VOID_ID  # some detectron2 heads mark unassigned pixels with -1

    segments: List[ModelSegment] = []
    seen = set()
    for n, info in enumerate(segments_info):
        where = f"segments_info[{n}]"
        if not isinstance(info, dict):
            raise Detectron2OutputError(f"{where} is not a dict")
        segment_id = _integer(info, "id", where)
        category_id = _integer(info, "category_id", where)
        isthing = info.get("isthing")
        if not isinstance(isthing, (bool, np.bool_)):
            raise Detectron2OutputError(f"{where} needs a boolean 'isthing', got {isthing!r}")
        if segment_id <= VOID_ID:
            raise Detectron2OutputError(f"{where} has id {segment_id}; segment ids start at 1 (0 is void)")
        if segment_id in seen:
            raise Detectron2OutputError(f"{where} repeats segment id {segment_id}")
        seen.add(segment_id)
        names = thing_class_names if (isthing and thing_class_names is not None) else class_names
        if not 0 <= category_id < len(names):
            kind = "thing " if isthing and thing_class_names is not None else ""
            raise Detectron2OutputError(
                f"{where} has category_id {category_id}, outside the model's {len(names)} {kind}classes"
            )
        score = info.get("score")
        if score is not None:
            score = float(score)
            if not math.isfinite(score):
                raise Detectron2OutputError(f"{where} has score {score}")
            score = min(max(score, 0.0), 1.0)
        segments.append(ModelSegment(segment_id, names[category_id], score))

    present = set(int(i) for i in np.unique(ids)) - {VOID_ID}
    undescribed = sorted(present - seen)
    if undescribed:
        raise Detectron2OutputError(f"segment id(s) {undescribed[:8]} in panoptic_seg have no entry in segments_info")
    return ModelPanoptic(ids=ids, segments=[s for s in segments if s.id in present])


def _integer(info: dict, key: str, where: str) -> int:
    value = info.get(key)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise Detectron2OutputError(f"{where} needs an integer '{key}', got {value!r}")
    return int(value)


def require_detectron2():
    """Import detectron2 and Mask2Former's config hook, or explain how to install them."""
    try:
        import detectron2  # noqa: F401
        from detectron2.projects.deeplab import add_deeplab_config  # noqa: F401
    except ImportError as err:
        raise BackendUnavailableError(f"detectron2 is not installed ({err}).\n{INSTALL_HINT}") from err
    try:
        from mask2former import add_maskformer2_config  # noqa: F401
    except ImportError as err:
        raise BackendUnavailableError(f"the Mask2Former project is not importable ({err}).\n{INSTALL_HINT}") from err


class Detectron2Backend:
    """Runs a Mask2Former detectron2 model; see :class:`~panoptic_nerfstudio.segmentation.backend.SegmentationBackend`."""

    def __init__(
        self,
        config_file: Path,
        weights: Optional[Path],
        device: str = "cpu",
        thresholds: PanopticThresholds = PanopticThresholds(),
    ):
        config_file = Path(config_file).expanduser()
        if not config_file.is_file():
            raise BackendUnavailableError(
                f"{config_file}: no such detectron2 config; --model must name a Mask2Former config YAML"
            )
        require_detectron2()
        from detectron2.checkpoint import DetectionCheckpointer
        from detectron2.config import get_cfg
        from detectron2.data import MetadataCatalog
        from detectron2.modeling import build_model
        from detectron2.projects.deeplab import add_deeplab_config
        from mask2former import add_maskformer2_config

        cfg = get_cfg()
        add_deeplab_config(cfg)
        add_maskformer2_config(cfg)
        cfg.merge_from_file(str(config_file))
        checkpoint = Path(weights).expanduser() if weights is not None else Path(cfg.MODEL.WEIGHTS or "")
        if not checkpoint.is_file():
            raise BackendUnavailableError(
                f"detectron2 weights {str(checkpoint) or '(none)'!r} are not a local file. Download the checkpoint "
                "for this config from Mask2Former's MODEL_ZOO.md where there is internet access and pass --weights FILE."
            )
        cfg.MODEL.WEIGHTS = str(checkpoint)
        cfg.MODEL.DEVICE = str(device)
        cfg.MODEL.MASK_FORMER.TEST.SEMANTIC_ON = True  # the class probabilities TTA merges
        cfg.MODEL.MASK_FORMER.TEST.PANOPTIC_ON = True
        cfg.MODEL.MASK_FORMER.TEST.INSTANCE_ON = False
        cfg.MODEL.MASK_FORMER.TEST.OBJECT_MASK_THRESHOLD = thresholds.object_score
        cfg.MODEL.MASK_FORMER.TEST.OVERLAP_THRESHOLD = thresholds.overlap
        cfg.freeze()
        self.cfg = cfg
        self.model = build_model(cfg).eval()
        DetectionCheckpointer(self.model).load(cfg.MODEL.WEIGHTS)
        metadata = MetadataCatalog.get(cfg.DATASETS.TEST[0])
        self.class_names: List[str] = list(metadata.stuff_classes)
        num_classes = cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES
        if len(self.class_names) != num_classes:
            raise BackendUnavailableError(
                f"{config_file}: dataset {cfg.DATASETS.TEST[0]} names {len(self.class_names)} classes but the model "
                f"has {num_classes}; use a Mask2Former panoptic config whose test dataset is registered"
            )

    @torch.no_grad()
    def run(self, images: Sequence[np.ndarray], view: Augmentation, panoptic: bool) -> List[ViewOutput]:
        from detectron2.data import transforms as T

        resize = T.ResizeShortestEdge(
            [round(self.cfg.INPUT.MIN_SIZE_TEST * view.scale)] * 2, round(self.cfg.INPUT.MAX_SIZE_TEST * view.scale)
        )
        inputs = []
        for image in images:
            height, width = image.shape[:2]
            view_image = image[:, ::-1] if view.flip else image
            view_image = resize.get_transform(view_image).apply_image(np.ascontiguousarray(view_image))
            if self.cfg.INPUT.FORMAT == "BGR":
                view_image = view_image[:, :, ::-1]
            tensor = torch.as_tensor(np.ascontiguousarray(view_image.transpose(2, 0, 1)).astype("float32"))
            inputs.append({"image": tensor, "height": height, "width": width})
        results = []
        for output in self.model(inputs):
            converted = None
            if panoptic:
                converted = panoptic_from_detectron2(*output["panoptic_seg"], class_names=self.class_names)
            results.append(ViewOutput(class_scores=output["sem_seg"].float(), panoptic=converted))
        return results
