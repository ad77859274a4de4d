"""The project's shape: imports form no cycle, the layers point one way (models <- tasks <-
flows, only flows import Prefect), every package folder is installed, and the distribution
is `ganflow.*` with no bare top-level `models` or `tasks`."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LAYERS = ("models", "tasks", "flows")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["ganflow", *parts])


def _project_modules() -> dict[str, Path]:
    return {_module_name(p): p for layer in LAYERS for p in sorted((REPO / layer).rglob("*.py"))}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every project module `path` imports, at the top, inside functions or under
    TYPE_CHECKING alike."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                out.add(name)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _project_modules()
    graph = {m: _imports(p, modules) - {m} for m, p in modules.items()}
    for m in graph:  # a package's __init__ is imported with any of its modules: not an edge
        graph[m] = {d for d in graph[m] if not m.startswith(d + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                return stack[stack.index(d) :] + [d]
            if d not in state and (found := visit(d)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle_among_the_project_modules():
    cycle = find_cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_layers_point_one_way_and_only_flows_import_prefect():
    modules = _project_modules()
    for m, deps in _graph().items():
        layer = m.split(".")[1]
        allowed = LAYERS[: LAYERS.index(layer) + 1]
        wrong = sorted(d for d in deps if d.split(".")[1] not in allowed)
        assert not wrong, f"{m} (layer {layer}) imports {wrong}"
        if layer != "flows":
            tree = ast.parse(modules[m].read_text())
            prefect = [
                n
                for n in ast.walk(tree)
                if isinstance(n, (ast.Import, ast.ImportFrom))
                and any(
                    (getattr(n, "module", None) or a.name).startswith("prefect") for a in n.names
                )
            ]
            assert not prefect, f"{m} imports prefect: only flows/ may"


def test_every_package_folder_is_installed_as_ganflow():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    conf = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(conf["packages"])
    found = {_module_name(p) for layer in LAYERS for p in (REPO / layer).rglob("__init__.py")}
    assert found == listed, (
        f"packages missing from pyproject.toml: {sorted(found - listed)}; "
        f"listed but absent: {sorted(listed - found)}"
    )
    assert conf["package-dir"] == {f"ganflow.{layer}": layer for layer in LAYERS}


@pytest.mark.parametrize(
    ("code", "ok"),
    [("import ganflow.models.engine", True), ("import models", False), ("import tasks", False)],
)
def test_the_distribution_is_ganflow_and_nothing_bare(tmp_path, code, ok):
    """Run from outside the repository, as a user's script would."""
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert (proc.returncode == 0) == ok, proc.stderr
