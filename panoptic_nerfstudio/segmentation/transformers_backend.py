"""Mask2Former through Hugging Face transformers: ``Mask2FormerForUniversalSegmentation`` and its image processor.

Weights come from a local directory (``save_pretrained`` output) or a hub id (e.g.
``facebook/mask2former-swin-large-coco-panoptic``, the COCO panoptic Swin-L the paper used). A hub id is looked up
in the local cache first; a download is attempted only when the hub is not switched off (``HF_HUB_OFFLINE``) and
answers at all, because an unreachable hub makes the hub client retry for minutes. Missing weights fail at once
with a message saying how to provide them.

Geometry: images of one size are resized together by the processor (shortest edge x view scale, rounded up to a
multiple of 32), so a batch is never padded and the model's outputs cover exactly the image; that is what the
processor's panoptic post-processing assumes when it resizes to the original size.
"""

from __future__ import annotations

import os
import socket
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Sequence, Tuple
from urllib.parse import urlparse

import numpy as np
import torch

from panoptic_nerfstudio.segmentation.backend import (
    BackendUnavailableError,
    ModelPanoptic,
    ModelSegment,
    PanopticThresholds,
    ViewOutput,
)
from panoptic_nerfstudio.segmentation.tta_merging import Augmentation

DEFAULT_MODEL = "facebook/mask2former-swin-large-coco-panoptic"
"""Mask2Former Swin-L trained on COCO panoptic (133 classes), the 2D network of the paper."""

INSTALL_HINT = "pip install 'panoptic-nerfstudio[segment]'  (or: pip install 'transformers>=4.40')"


def require_transformers():
    try:
        import transformers
    except ImportError as err:
        raise BackendUnavailableError(f"The transformers backend needs Hugging Face transformers: {INSTALL_HINT}") from err
    return transformers


# ----------------------------------------------------------------------------- loading


def hub_offline() -> bool:
    """Downloads switched off, read now (the hub client reads its variables once, at import)."""
    truthy = {"1", "on", "yes", "true"}
    if any(os.environ.get(v, "").strip().lower() in truthy for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")):
        return True
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:
        return False


def hub_endpoint() -> str:
    try:
        from huggingface_hub import constants

        return constants.ENDPOINT
    except (ImportError, AttributeError):
        return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the hub's host accepts a connection within ``timeout`` seconds. Behind a proxy the proxy decides, so
    the answer is yes and the hub client tries."""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    url = urlparse(hub_endpoint())
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def hub_cache_dir() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except (ImportError, AttributeError):
        return "~/.cache/huggingface/hub"


def weights_help(name: str, reason: str) -> str:
    """How to provide weights on a machine that cannot download them."""
    return (
        f"Mask2Former weights {name!r} are not available here: {reason}.\n"
        "Provide them in one of two ways:\n"
        "  1. A local directory. Where there is internet access, run\n"
        f"       python -c \"from transformers import AutoImageProcessor, Mask2FormerForUniversalSegmentation as M; "
        f"n='{name}'; M.from_pretrained(n).save_pretrained('m2f'); AutoImageProcessor.from_pretrained(n).save_pretrained('m2f')\"\n"
        "     copy the folder m2f to this machine and pass --model path/to/m2f\n"
        f"  2. The Hugging Face cache. Where there is internet access, run `hf download {name}` (older hub clients:\n"
        f"     `huggingface-cli download {name}`) and copy the cache to this machine's cache ({hub_cache_dir()}),\n"
        "     or point HF_HOME at a copy of it."
    )


def looks_like_path(name: str) -> bool:
    """A hub id is ``owner/name``; anything else with a path shape is meant as a local directory."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name


def load_mask2former(name_or_path: str, device: str | torch.device = "cpu"):
    """(model, image processor) from a local directory or a hub id; raises BackendUnavailableError with a fix."""
    require_transformers()
    local = Path(name_or_path).expanduser()
    if local.is_dir():
        try:
            return _load(str(local), device, local_files_only=True)
        except (OSError, ValueError) as err:
            raise BackendUnavailableError(
                f"{local}: not a Mask2Former model directory (expected config.json, preprocessor_config.json and the "
                f"weights, as written by save_pretrained): {err}"
            ) from err
    if looks_like_path(name_or_path):
        raise BackendUnavailableError(f"{local}: no such model directory")
    try:
        return _load(name_or_path, device, local_files_only=True)
    except OSError:
        pass
    if hub_offline():
        raise BackendUnavailableError(
            weights_help(name_or_path, "it is not in the Hugging Face cache and downloads are off (HF_HUB_OFFLINE)")
        )
    if not hub_reachable():
        raise BackendUnavailableError(
            weights_help(name_or_path, f"it is not in the Hugging Face cache and {hub_endpoint()} cannot be reached")
        )
    try:
        return _load(name_or_path, device, local_files_only=False)
    except OSError as err:
        raise BackendUnavailableError(weights_help(name_or_path, f"the download failed ({err})")) from err


def _load(source: str, device, local_files_only: bool):
    from transformers import AutoImageProcessor, Mask2FormerForUniversalSegmentation

    processor = AutoImageProcessor.from_pretrained(source, local_files_only=local_files_only)
    model = Mask2FormerForUniversalSegmentation.from_pretrained(source, local_files_only=local_files_only)
    return model.to(device).eval(), processor


# ----------------------------------------------------------------------------- inference


def _size_entry(size, key: str):
    return size.get(key) if isinstance(size, dict) else getattr(size, key, None)


class TransformersBackend:
    """Runs one Mask2Former model; see :class:`~panoptic_nerfstudio.segmentation.backend.SegmentationBackend`."""

    def __init__(self, model, processor, thresholds: PanopticThresholds = PanopticThresholds()):
        self.model = model
        self.processor = processor
        self.thresholds = thresholds
        id2label = {int(k): v for k, v in model.config.id2label.items()}
        if sorted(id2label) != list(range(len(id2label))):
            raise BackendUnavailableError(f"model config has label ids {sorted(id2label)}; expected 0..N-1")
        self.class_names: List[str] = [id2label[i] for i in range(len(id2label))]

    @classmethod
    def from_pretrained(
        cls, name_or_path: str, device: str | torch.device = "cpu", thresholds: PanopticThresholds = PanopticThresholds()
    ) -> "TransformersBackend":
        model, processor = load_mask2former(name_or_path, device)
        return cls(model, processor, thresholds)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def view_size(self, scale: float) -> Dict[str, int]:
        """The processor's target size scaled for one view."""
        size = self.processor.size
        shortest, longest = _size_entry(size, "shortest_edge"), _size_entry(size, "longest_edge")
        if shortest:
            scaled = {"shortest_edge": max(1, round(shortest * scale))}
            scaled["longest_edge"] = max(scaled["shortest_edge"], round((longest or 10**6) * scale))
            return scaled
        height, width = _size_entry(size, "height"), _size_entry(size, "width")
        if height and width:
            return {"height": max(1, round(height * scale)), "width": max(1, round(width * scale))}
        raise BackendUnavailableError(f"image processor size {size} has neither shortest_edge nor height/width")

    def run(self, images: Sequence[np.ndarray], view: Augmentation, panoptic: bool) -> List[ViewOutput]:
        outputs: List[ViewOutput | None] = [None] * len(images)
        groups: Dict[Tuple[int, int], List[int]] = defaultdict(list)
        for index, image in enumerate(images):
            groups[tuple(image.shape[:2])].append(index)
        for (height, width), indices in groups.items():
            batch = [np.ascontiguousarray(images[i][:, ::-1]) if view.flip else images[i] for i in indices]
            for i, output in zip(indices, self._run_same_size(batch, (height, width), view, panoptic)):
                outputs[i] = output
        return outputs  # type: ignore[return-value]

    @torch.inference_mode()
    def _run_same_size(
        self, images: List[np.ndarray], size: Tuple[int, int], view: Augmentation, panoptic: bool
    ) -> List[ViewOutput]:
        inputs = self.processor(images=images, size=self.view_size(view.scale), return_tensors="pt")
        pixel_values = inputs["pixel_values"].to(self.device)
        pixel_mask = inputs.get("pixel_mask")
        if pixel_mask is not None and not bool(pixel_mask.all()):
            raise RuntimeError("the image processor padded images of one size; outputs would not cover the images")
        result = self.model(pixel_values=pixel_values)
        # Mask2Former's semantic inference: sum over queries of class probability (no-object dropped) x mask.
        class_probs = result.class_queries_logits.softmax(dim=-1)[..., :-1]
        mask_probs = result.masks_queries_logits.sigmoid()
        scores = torch.einsum("bqc,bqhw->bchw", class_probs, mask_probs).float()
        segmentations = None
        if panoptic:
            segmentations = self.processor.post_process_panoptic_segmentation(
                result,
                threshold=self.thresholds.object_score,
                mask_threshold=self.thresholds.mask,
                overlap_mask_area_threshold=self.thresholds.overlap,
                label_ids_to_fuse=set(),  # stuff is merged per scene category after label mapping
                target_sizes=[size] * len(images),
            )
        return [
            ViewOutput(class_scores=scores[i], panoptic=self._panoptic(segmentations[i]) if segmentations else None)
            for i in range(len(images))
        ]

    def _panoptic(self, result: dict) -> ModelPanoptic:
        ids = result["segmentation"].cpu().numpy().astype(np.int64)
        ids[ids < 0] = 0  # the processor writes -1 where no query survives; void either way
        segments = [
            ModelSegment(int(s["id"]), self.class_names[int(s["label_id"])], float(s["score"]))
            for s in result["segments_info"]
        ]
        return ModelPanoptic(ids=ids, segments=segments)
