"""Segmentation losses, slot assignment and the rendering of per-sample distributions."""
