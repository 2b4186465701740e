"""The scripts under ``benchmarks/`` imported as modules, for tests of their pieces (they are not a package)."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]


def benchmark_module(script: str) -> Iterator[ModuleType]:
    """``benchmarks/<script>.py`` as a module, registered in ``sys.modules`` while in use (its dataclasses look
    themselves up there); a generator, for a pytest fixture to yield from."""
    name = f"{script}_benchmark"
    if str(REPO / "benchmarks") not in sys.path:  # as when run as a script: the modules beside it importable
        sys.path.append(str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[name]
