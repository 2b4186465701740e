"""Importers that turn scenes prepared by other tools into our panoptic scene format (shared/FORMAT.md)."""
