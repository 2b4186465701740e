"""A nerfstudio InputDataset whose frames carry decoded panoptic layers.

The ray store (images + masks of the whole split) is built on first use, not at
construction, because nerfstudio also builds datasets in ``inference`` mode
(``ns-render``, the viewer) where nothing is read from disk. Frames are decoded and packed one at a time into a
store sized up front from the image headers; where the store lives is the datamanager's ``cache_images``.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from nerfstudio.data.dataparsers.base_dataparser import DataparserOutputs
from nerfstudio.data.datasets.base_dataset import InputDataset

from panoptic_nerfstudio.data.frame_decoding import DecodedFrame, decode_frame, unlabelled_frame
from panoptic_nerfstudio.data.panoptic_dataparser import PANOPTIC_METADATA_KEY, PanopticSplit
from panoptic_nerfstudio.data.panoptic_format import ClassTable, PanopticFormatError, checked_image_size
from panoptic_nerfstudio.data.pixel_storage import PixelAllocator
from panoptic_nerfstudio.data.ray_store import RayStore, RayStoreBuilder
from panoptic_nerfstudio.utils.progress import frames_progress


class PanopticDataset(InputDataset):
    def __init__(self, dataparser_outputs: DataparserOutputs, scale_factor: float = 1.0):
        super().__init__(dataparser_outputs, scale_factor)
        split = self.metadata.get(PANOPTIC_METADATA_KEY)
        if not isinstance(split, PanopticSplit):
            raise ValueError("PanopticDataset needs dataparser outputs from the panoptic-data dataparser")
        self.panoptic: PanopticSplit = split
        self._store: Optional[RayStore] = None
        self.pixel_allocator = PixelAllocator("cpu")
        """Where the store's per-pixel arrays go (the datamanager sets it from ``cache_images`` before loading)."""

    @property
    def frames_without_masks(self) -> List[str]:
        """Image names of the frames that have no panoptic mask (empty unless missing masks are allowed)."""
        return [layers.image.name for layers in self.panoptic.layers if layers.panoptic is None]

    @property
    def classes(self) -> ClassTable:
        return self.panoptic.classes

    @property
    def store(self) -> RayStore:
        if self._store is None:
            self._store = self._build_store()
        return self._store

    def _build_store(self) -> RayStore:
        sizes = [self._image_size(i) for i in range(len(self))]
        builder = RayStoreBuilder(sizes, self.pixel_allocator)
        with frames_progress(transient=True) as progress:
            task = progress.add_task("Decoding images and panoptic masks", total=len(self))
            for index, layers in enumerate(self.panoptic.layers):
                image = self._checked_numpy_image(index)
                height, width = image.shape[:2]
                if (height, width) != sizes[index]:
                    raise PanopticFormatError(
                        self.image_filenames[index],
                        f"decoded to {width}x{height}, not the size its header declares",
                    )
                frame: DecodedFrame
                if layers.panoptic is None:  # allowed by --pipeline.datamanager.allow-missing-masks: RGB only
                    frame = unlabelled_frame((width, height))
                else:
                    frame = decode_frame(layers.panoptic, self.classes, (width, height), layers.confidence)
                builder.add(index, image, frame)
                progress.advance(task)
        return builder.finish()

    def _image_size(self, index: int) -> Tuple[int, int]:
        """(height, width) of training image ``index`` as nerfstudio loads it, from its header."""
        width, height = checked_image_size(self.image_filenames[index], decode=False)
        if self.scale_factor != 1.0:  # nerfstudio's get_numpy_image resizes so
            width, height = int(width * self.scale_factor), int(height * self.scale_factor)
        return height, width

    def _checked_numpy_image(self, index: int) -> np.ndarray:
        """nerfstudio's image loading, with our header checks first and its failures named by file."""
        path = self.image_filenames[index]
        checked_image_size(path, decode=False)
        try:
            return self.get_numpy_image(index)
        except (OSError, ValueError, SyntaxError, EOFError, AssertionError) as err:
            raise PanopticFormatError(path, f"unreadable image: {err}") from err

    def get_metadata(self, data: Dict) -> Dict[str, torch.Tensor]:
        """Full-image targets for evaluation images, from the store, plus ground-truth classes where there are any."""
        index = int(data["image_idx"])
        layers = self.store.frame_layers(index)
        gt_path = self.panoptic.layers[index].gt_panoptic
        if gt_path is not None:  # read per call: only the evaluation images of ns-eval come here
            height, width = layers["semantics"].shape[:2]
            gt = decode_frame(gt_path, self.classes, (width, height))
            layers["gt_semantics"] = torch.from_numpy(gt.pixel_classes())[..., None]
        return layers
