"""The panoptic pipeline: nerfstudio's vanilla pipeline with scene-level segmentation metrics."""
