"""The Panoptic Lifting model: nerfacto's pass plus the segmentation heads, losses and inference."""
