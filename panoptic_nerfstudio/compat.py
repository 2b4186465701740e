"""Workarounds for nerfstudio 1.1.5 traps, kept narrow and in one place.

1. Checkpoints under torch >= 2.6. nerfstudio's trainer saves the schedulers'
   state, whose learning rates are numpy float64 scalars (nerfstudio's schedulers
   compute them with numpy). ``torch.load`` now defaults to ``weights_only=True``
   and refuses those, so ``ns-eval``, ``ns-render``, ``ns-viewer`` and resuming with
   ``--load-dir`` fail. We allow exactly the numpy scalar reconstructor and the
   float dtypes it needs; ``weights_only`` stays on for everything else.

2. LPIPS. nerfacto's ``populate_modules`` constructs torchmetrics' LPIPS metric,
   which downloads AlexNet weights at construction time and so fails offline.
   :func:`without_lpips` lets our model reuse nerfacto's module setup without
   constructing it; :func:`cached_lpips` builds the metric only where torch's local
   cache already holds the weights (never downloading), and :class:`OfflineLpips` reports it.

3. Videos. ``ns-render`` needs an ``ffmpeg`` executable; see :func:`use_bundled_ffmpeg`.

4. tiny-cuda-nn. Where ``tinycudann`` is not importable, nerfstudio falls back to its torch hash grids and MLPs
   and prints a four-line warning for every module it builds (eleven for the paper-sized model);
   :func:`single_tcnn_notice` says it once per process instead.

5. Start-up time. Every ``ns-*`` command imports nerfstudio's method list, which builds a stub for each of its 26
   external methods; the stub's ``__post_init__`` calls ``inspect.stack()`` to see who built it, and that walks
   every frame's source through every loaded module: about 7 s of each command's start here.
   :func:`fast_external_method_stubs` answers the same question from the frame itself.

6. A run's ``config.yml`` is the pickled config of its day: nerfstudio loads it with ``yaml.Loader``, which
   restores the saved fields and never calls ``__init__``, so a config field added since has no value, and a nested
   config (a ``default_factory`` field, which has no class attribute) raises ``AttributeError`` on first use.
   :func:`complete_config` gives such fields their defaults, so older runs load with newer code.

Nothing here runs on ``import panoptic_nerfstudio``: the model calls 1 to 4 when it is built and the pipeline
calls 6 before it builds the model, which nerfstudio does before it loads a checkpoint or renders; 5 runs when
nerfstudio loads our method specifications (the entry points of ``method_configs``), just before it builds those
stubs.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

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


ALEXNET_WEIGHTS = "alexnet-owt-7be5be79.pth"
"""File name of torchvision's AlexNet weights (``AlexNet_Weights.DEFAULT``), the backbone of nerfacto's LPIPS."""


def lpips_weights_path() -> Path:
    """Where torch's hub cache keeps the AlexNet weights LPIPS needs (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_WEIGHTS


def cached_lpips() -> Optional[Any]:
    """nerfacto's LPIPS metric (torchmetrics, AlexNet, normalized inputs) when its weights are in torch's local
    cache; None otherwise, without any download attempt."""
    if not lpips_weights_path().is_file():
        return None
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    return LearnedPerceptualImagePatchSimilarity(normalize=True)


class OfflineLpips:
    """The LPIPS entry of a model's image metrics: :func:`cached_lpips`'s metric where the weights are cached; where
    they are not, no entry and one notice. A plain object, not a module, so that checkpoints never carry (or expect)
    the metric's network."""

    def __init__(self) -> None:
        self.metric = cached_lpips()
        self.notice_given = False

    def __call__(self, gt: torch.Tensor, pred: torch.Tensor) -> Dict[str, float]:
        """``{"lpips": value}`` of two [1, 3, H, W] images in [0, 1], or ``{}`` without the weights."""
        if self.metric is None:
            if not self.notice_given:
                self.notice_given = True
                from nerfstudio.utils.rich_utils import CONSOLE

                CONSOLE.print(
                    "LPIPS skipped: its AlexNet weights are not in torch's local cache and are never downloaded "
                    f"(put {ALEXNET_WEIGHTS} under $TORCH_HOME/hub/checkpoints to get it)."
                )
            return {}
        self.metric = self.metric.to(gt.device)
        return {"lpips": float(self.metric(gt.clamp(0.0, 1.0), pred.clamp(0.0, 1.0)))}


_TCNN_NOTICE_GIVEN = False


@contextlib.contextmanager
def single_tcnn_notice(implementation: str) -> Iterator[None]:
    """Around building a model: where ``implementation`` is tcnn but tinycudann is not importable, one notice
    (once per process) instead of nerfstudio's warning per module. The modules fall back to torch as before."""
    from nerfstudio.utils import external

    if implementation != "tcnn" or external.TCNN_EXISTS:
        yield
        return
    global _TCNN_NOTICE_GIVEN
    if not _TCNN_NOTICE_GIVEN:
        _TCNN_NOTICE_GIVEN = True
        from nerfstudio.utils.rich_utils import CONSOLE

        CONSOLE.print(
            f"Note: tinycudann is not importable ({external.tcnn_import_exception}); the hash grids and MLPs use "
            "nerfstudio's torch implementation: the same model, slower. Install tiny-cuda-nn for speed, or pass "
            "--pipeline.model.implementation torch to choose torch outright.",
            soft_wrap=True,
        )
    import nerfstudio.field_components.encodings as encodings
    import nerfstudio.field_components.mlp as mlp

    modules = (encodings, mlp)
    originals = [module.print_tcnn_speed_warning for module in modules]
    for module in modules:
        module.print_tcnn_speed_warning = lambda module_name: None  # type: ignore[assignment]
    try:
        yield
    finally:
        for module, original in zip(modules, originals):
            module.print_tcnn_speed_warning = original  # type: ignore[assignment]


def use_bundled_ffmpeg() -> None:
    """Make an ``ffmpeg`` executable findable when the system has none.

    ``ns-render`` refuses to write videos unless ``shutil.which("ffmpeg")`` finds
    one. The imageio-ffmpeg wheel (a dependency) ships a static binary under a
    versioned name; we link it as ``ffmpeg`` in a private cache folder and put
    that folder at the end of this process's PATH, so a system ffmpeg still wins.
    """
    import os
    import shutil

    if shutil.which("ffmpeg") is not None:
        return
    try:
        import imageio_ffmpeg

        binary = Path(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):  # pragma: no cover - dependency missing or binary absent
        return
    folder = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "panoptic_nerfstudio" / "bin"
    link = folder / "ffmpeg"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not link.exists() or link.resolve() != binary.resolve():
            link.unlink(missing_ok=True)
            link.symlink_to(binary)
    except OSError:  # pragma: no cover - read-only home: videos then need a system ffmpeg
        return
    os.environ["PATH"] = os.environ.get("PATH", "") + os.pathsep + str(folder)


def fast_external_method_stubs() -> None:
    """Make nerfstudio's external-method stubs tell who built them without ``inspect.stack()`` (same answer).

    ``ExternalMethodDummyTrainerConfig.__post_init__`` returns at once when it was built by
    ``get_external_methods`` (the method list) and otherwise offers to install the method; it finds out with
    ``inspect.stack()[2].function``, which reads the source of every frame. Frame 2 (the caller of the dataclass'
    ``__init__``) is read directly here; only when that is not ``get_external_methods`` is nerfstudio's own
    ``__post_init__`` called, which then asks the user as before."""
    import sys

    from nerfstudio.configs import external_methods

    stub = external_methods.ExternalMethodDummyTrainerConfig
    original = stub.__post_init__
    if getattr(original, "_frame_check", False):
        return

    def __post_init__(self) -> None:
        if sys._getframe(2).f_code.co_name == "get_external_methods":
            return
        original(self)

    __post_init__._frame_check = True  # type: ignore[attr-defined]
    stub.__post_init__ = __post_init__  # type: ignore[method-assign]


def complete_config(config: Any) -> None:
    """Give every dataclass field ``config`` lacks (and those of its nested configs) its default, in place: a config
    loaded from an older run's ``config.yml`` has only the fields of its day. A renamed field keeps its saved
    meaning: ``keep_near_plane: false`` (before ``render_near_plane``) renders from 0, as it did."""
    saved = vars(config)
    if "keep_near_plane" in saved and "render_near_plane" not in saved:
        config.render_near_plane = None if saved.pop("keep_near_plane") else 0.0
    for spec in dataclasses.fields(config):
        if spec.name not in vars(config):
            if spec.default_factory is not dataclasses.MISSING:
                setattr(config, spec.name, spec.default_factory())
            elif spec.default is not dataclasses.MISSING:
                setattr(config, spec.name, spec.default)
        value = getattr(config, spec.name, None)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            complete_config(value)
