"""Let PyPI's torchvision wheel (a CUDA build) import beside a CPU-only torch.

On a machine whose torch is the CPU build, torchvision's compiled ops cannot load
(they link against torch's CUDA libraries). torchvision handles that for most ops,
but registers fake kernels for ``nms`` and ``qnms`` unconditionally, so ``import
torchvision`` fails, and with it nerfstudio. nerfstudio only uses torchvision's
pure-Python parts, so it is enough to declare those two operator schemas when the
compiled ops are unusable. Nothing changes where torchvision's ops do load.

``make`` installs this module plus a one-line ``.pth`` into the virtual
environment; the hook costs nothing until something imports torchvision.
"""

import importlib.abc
import sys

_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_libraries = []


def _declare_missing_ops() -> None:
    import glob
    import importlib.util
    import os

    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return
    compiled = glob.glob(os.path.join(os.path.dirname(spec.origin), "_C*.so"))
    try:
        if compiled:
            torch.ops.load_library(compiled[0])
            return
    except OSError:
        pass
    library = torch.library.Library("torchvision", "FRAGMENT")
    for schema in _SCHEMAS:
        library.define(schema)
    _libraries.append(library)


class _BeforeTorchvision(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torchvision":
            sys.meta_path.remove(self)
            _declare_missing_ops()
        return None


def install() -> None:
    """Idempotent: a second call (the .pth seen twice) adds no second hook."""
    if "torchvision" in sys.modules or any(isinstance(f, _BeforeTorchvision) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _BeforeTorchvision())
