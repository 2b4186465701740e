"""Panoptic Lifting (Siddiqui et al., CVPR 2023) as a nerfstudio method.

Importing the package does nothing else: the nerfstudio workarounds of
:mod:`panoptic_nerfstudio.compat` run when the model is built.
"""

__version__ = "0.1.0"
