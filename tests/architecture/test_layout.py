"""Checks anyone can run on the package's shape: no import cycles, small files, a side-effect-free import."""

import ast
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set

import panoptic_nerfstudio

PACKAGE = Path(panoptic_nerfstudio.__file__).parent
MAX_LINES = 450


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: Path, modules: Set[str]) -> Set[str]:
    """Our modules that ``path`` imports when it runs (imports under ``if TYPE_CHECKING:`` are left out)."""
    tree = ast.parse(path.read_text())
    found: Set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for orelse in child.orelse:
                    visit(orelse)
                continue
            if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                for alias in child.names:
                    candidate = f"{child.module}.{alias.name}"
                    found.add(candidate if candidate in modules else child.module)
            elif isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            visit(child)

    visit(tree)
    return {name for name in found if name in modules}


def _import_graph() -> Dict[str, Set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _runtime_imports(path, set(files)) - {name} for name, path in files.items()}


def test_no_module_imports_one_that_imports_it_back():
    graph = _import_graph()
    state: Dict[str, int] = {}
    cycles: List[List[str]] = []

    def walk(node: str, stack: List[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                walk(nxt, stack + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_sees_a_cycle(tmp_path, monkeypatch):
    """The check above can fail: two modules importing each other are reported."""
    package = tmp_path / "panoptic_nerfstudio"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from panoptic_nerfstudio.b import x\n")
    (package / "b.py").write_text("from panoptic_nerfstudio import a\nx = 1\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    graph = _import_graph()
    assert graph["panoptic_nerfstudio.a"] == {"panoptic_nerfstudio.b"}
    assert graph["panoptic_nerfstudio.b"] == {"panoptic_nerfstudio.a"}


def test_no_source_file_is_longer_than_the_limit():
    long_files = {
        str(path.relative_to(PACKAGE.parent)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long_files, f"files over {MAX_LINES} lines: {long_files}"


def test_importing_the_package_leaves_cache_and_path_untouched(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"), "PATH": "/usr/bin:/bin"}
    script = "import os, panoptic_nerfstudio; print(os.environ['PATH'])"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "/usr/bin:/bin"
    assert list(home.rglob("*")) == []
