"""Benchmarks measure the checkout they lie in: ``benchmarks/this_checkout.py`` comes first in every script."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p for p in (REPO / "benchmarks").glob("*.py") if "__main__" in p.read_text())


def top_level_imports(path: Path):
    """(line, module) of the script's module-level imports, in order."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.lineno, node.module


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_benchmark_script_imports_this_checkout_before_the_package(script):
    imports = list(top_level_imports(script))
    checkout = [line for line, module in imports if module == "this_checkout"]
    assert checkout, f"{script.name} does not import this_checkout"
    package = [line for line, module in imports if module.split(".")[0] == "panoptic_nerfstudio"]
    assert all(checkout[0] < line for line in package)


def test_this_checkout_wins_over_an_installed_copy_and_is_passed_to_commands(tmp_path):
    """An 'installed' package earlier on the path (as an editable install of another worktree would be) loses."""
    installed = tmp_path / "panoptic_nerfstudio"
    installed.mkdir()
    (installed / "__init__.py").write_text("")
    probe = (
        "import sys; sys.path.insert(1, sys.argv[1]); import this_checkout, panoptic_nerfstudio; "
        "print(panoptic_nerfstudio.__file__); print(this_checkout.environment(X='1')['PYTHONPATH'])"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    command = [sys.executable, "-c", probe, str(REPO / "benchmarks")]
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
    package_file, pythonpath = result.stdout.splitlines()
    assert Path(package_file).resolve() == REPO / "panoptic_nerfstudio" / "__init__.py"
    assert pythonpath.split(os.pathsep) == [str(REPO), str(tmp_path)]
