"""Running the venv's console scripts (ns-train, ns-render, ns-panoptic...) from tests."""

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def run_tool(args, timeout=600) -> subprocess.CompletedProcess:
    """Run a console script of this venv; a non-zero exit fails the test and shows the script's output."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run([str(BIN / args[0]), *map(str, args[1:])], capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, f"{args[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result
