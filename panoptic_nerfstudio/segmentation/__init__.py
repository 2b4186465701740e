"""2D panoptic mask generation (``ns-panoptic segment``): Mask2Former over a scene's images, test-time augmentation,
label maps, and output in the panoptic scene format."""
