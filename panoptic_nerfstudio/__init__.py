"""Panoptic Lifting (Siddiqui et al., CVPR 2023) as a nerfstudio method.

Importing the package makes our checkpoints loadable by nerfstudio's
``ns-eval`` / ``ns-render`` / ``ns-viewer`` under torch's ``weights_only``
loading, and lets ``ns-render`` write videos where no system ffmpeg is installed
(see :mod:`panoptic_nerfstudio.compat`). nerfstudio imports this package when it
reads a saved config, before it loads the checkpoint or renders.
"""

from panoptic_nerfstudio.compat import allow_checkpoint_globals, use_bundled_ffmpeg

allow_checkpoint_globals()
use_bundled_ffmpeg()

__version__ = "0.1.0"
