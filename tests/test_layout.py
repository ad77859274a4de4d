"""The project's shape: imports form no cycle, the layers point one way (models <- tasks <-
flows, only flows import Prefect), every package folder is installed, and the distribution
is `ganflow.*` with no bare top-level `models` or `tasks`."""

from __future__ import annotations

import ast
import json
import os
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


def test_the_built_wheel_runs_from_another_directory_with_its_data_there(tmp_path):
    """Installed from a wheel (not the checkout), a command run in a user's folder keeps its
    runs in that folder's data/, not inside the installed package; --data-dir moves them."""
    pytest.importorskip("setuptools")
    import shutil

    wheels, site, work = tmp_path / "wheels", tmp_path / "site", tmp_path / "project"
    work.mkdir()
    source = tmp_path / "source"  # a copy: the build writes build/ and *.egg-info beside it
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for layer in LAYERS:
        shutil.copytree(REPO / layer, source / layer, ignore=shutil.ignore_patterns("__pycache__"))
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheels), str(source)],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    if build.returncode != 0 and "No module named pip" in build.stderr:
        pytest.skip("no pip in this environment")
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("ganflow-*.whl")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    env = {k: v for k, v in os.environ.items() if k not in ("GANFLOW_DATA", "PREFECT_API_URL")}
    env["PYTHONPATH"] = str(site)
    cli = [sys.executable, "-m", "ganflow.flows.cli"]
    where = subprocess.run(
        [sys.executable, "-c", "import ganflow.tasks.io as io; print(io.__file__); print(io.DATA_DIR)"],
        capture_output=True, text=True, cwd=work, env=env,
    )  # fmt: skip
    module, root = where.stdout.split()
    assert Path(module).is_relative_to(site) and Path(root) == work / "data"
    run = [*cli, "cluster", "--data", "digits", "--epochs", "1", "--no-prefect", "--quiet",
           "--json"]  # fmt: skip
    done = subprocess.run(run, capture_output=True, text=True, cwd=work, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert Path(json.loads(done.stdout)["run_dir"]).is_relative_to(work / "data" / "runs")
    assert not (site / "ganflow" / "data").exists()
    other = tmp_path / "elsewhere"
    done = subprocess.run([*cli, "--data-dir", str(other), *run[3:]], capture_output=True,
                          text=True, cwd=work, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert Path(json.loads(done.stdout)["run_dir"]).is_relative_to(other / "runs")
    version = subprocess.run([*cli, "--version"], capture_output=True, text=True, env=env)
    assert version.stdout.startswith("ganflow ")
