"""Labeled 3D export of a trained panoptic field: a point cloud with class and instance per point, and one file
per 3D instance (``ns-panoptic export pointcloud|instances``)."""
