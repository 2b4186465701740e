"""Benchmarks measure the code of the checkout they lie in, whichever copy of the package is installed.

``make install`` installs the package in editable mode, pointing at one checkout; a benchmark started from another
worktree would import that checkout's package and measure the wrong code (it happened: an experiment run from a
worktree measured main's code). Each benchmark script imports this module before the package: it puts this
checkout first on ``sys.path``, and ``environment`` gives the commands a benchmark starts (``ns-train``,
``ns-panoptic``) the same path.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Dict

CHECKOUT = Path(__file__).resolve().parent.parent
"""The checkout this benchmark lies in."""

if sys.path[:1] != [str(CHECKOUT)]:
    sys.path.insert(0, str(CHECKOUT))


def environment(**variables: str) -> Dict[str, str]:
    """This process's environment plus ``variables``, with this checkout first on ``PYTHONPATH``: for the commands a
    benchmark runs."""
    path = os.pathsep.join(filter(None, [str(CHECKOUT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, **variables, "PYTHONPATH": path}
