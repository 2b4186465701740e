"""Workarounds for two nerfstudio 1.1.5 traps, kept narrow and in one place.

1. Checkpoints under torch >= 2.6. nerfstudio's trainer saves the schedulers'
   state, whose learning rates are numpy float64 scalars (nerfstudio's schedulers
   compute them with numpy). ``torch.load`` now defaults to ``weights_only=True``
   and refuses those, so ``ns-eval``, ``ns-render``, ``ns-viewer`` and resuming with
   ``--load-dir`` fail. We allow exactly the numpy scalar reconstructor and the
   float dtypes it needs; ``weights_only`` stays on for everything else.

2. LPIPS. nerfacto's ``populate_modules`` constructs torchmetrics' LPIPS metric,
   which downloads AlexNet weights at construction time and so fails offline. Our
   model does not report LPIPS; :func:`without_lpips` lets it reuse nerfacto's
   module setup without constructing that metric.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np
import torch


def allow_checkpoint_globals() -> None:
    """Allow-list the numpy pieces a nerfstudio checkpoint pickles, nothing more."""
    try:
        from numpy._core.multiarray import scalar  # numpy >= 2
    except ImportError:  # pragma: no cover - depends on the installed numpy
        from numpy.core.multiarray import scalar  # type: ignore[no-redef]
    dtypes = [type(np.dtype(t)) for t in (np.float64, np.float32)]
    torch.serialization.add_safe_globals([scalar, np.dtype, *dtypes])


@contextlib.contextmanager
def without_lpips() -> Iterator[None]:
    """Within the block, torchmetrics' LPIPS class builds nothing (returns None)."""
    import torchmetrics.image.lpip as lpip_module

    original = lpip_module.LearnedPerceptualImagePatchSimilarity

    def _no_lpips(*args, **kwargs):
        return None

    lpip_module.LearnedPerceptualImagePatchSimilarity = _no_lpips  # type: ignore[assignment]
    try:
        yield
    finally:
        lpip_module.LearnedPerceptualImagePatchSimilarity = original


def use_bundled_ffmpeg() -> None:
    """Point mediapy (used by ``ns-render`` for videos) at imageio-ffmpeg's binary when no ffmpeg is installed.

    nerfstudio writes videos through an ``ffmpeg`` executable on PATH; the
    imageio-ffmpeg wheel ships one, so videos work without a system package.
    """
    import shutil

    if shutil.which("ffmpeg") is not None:
        return
    try:
        import imageio_ffmpeg
        import mediapy
    except ImportError:  # pragma: no cover - both are dependencies
        return
    mediapy.set_ffmpeg(imageio_ffmpeg.get_ffmpeg_exe())
