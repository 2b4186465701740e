"""Importers that turn scenes prepared by other tools into our panoptic scene format (docs/format.md)."""
