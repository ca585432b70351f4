"""The import boundaries: the package's top holds only its entry points and its layered packages (pyproject's
import-linter contracts, which .ci/run checks, say which may import which), no module imports itself round a
circle, and the headless path never loads Textual (a deferred import that a static contract cannot see)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

import charrnn_tui

ENTRY_POINTS = {"__init__", "__main__", "cli", "headless"}
PYPROJECT = Path(__file__).parents[1] / "pyproject.toml"


def _layered_packages() -> set[str]:
    contracts = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["name"] == "The layers of charrnn-tui")["layers"]
    return {name.strip() for layer in layers for name in layer.split("|")}


def test_the_top_of_the_package_holds_only_entry_points_and_layered_packages() -> None:
    tops = {m.name: m.ispkg for m in pkgutil.iter_modules(charrnn_tui.__path__)}
    modules = {name for name, pkg in tops.items() if not pkg}
    packages = {f"charrnn_tui.{name}" for name, pkg in tops.items() if pkg and name != "data"}
    assert modules <= ENTRY_POINTS, f"put {modules - ENTRY_POINTS} in the package of its layer"
    assert packages <= _layered_packages(), "add the new package to the layers contract in pyproject.toml"


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), top-level and deferred imports alike."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in graph.find_modules_directly_imported_by(module):
            if not other.startswith("charrnn_tui"):
                continue
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for module in sorted(graph.modules):
        if module.startswith("charrnn_tui") and module not in index:
            visit(module)
    return found


def test_no_module_imports_itself_round_a_circle() -> None:
    assert _cycles(grimp.build_graph("charrnn_tui")) == []


def test_the_circle_finder_finds_a_circle() -> None:
    graph = grimp.ImportGraph()
    for a, b in (
        ("charrnn_tui.a", "charrnn_tui.b"),
        ("charrnn_tui.b", "charrnn_tui.c"),
        ("charrnn_tui.c", "charrnn_tui.a"),
    ):
        graph.add_import(importer=a, imported=b)
    graph.add_import(importer="charrnn_tui.c", imported="charrnn_tui.d")
    assert _cycles(graph) == [["charrnn_tui.a", "charrnn_tui.b", "charrnn_tui.c"]]


def test_the_headless_path_never_loads_textual() -> None:
    code = (
        "import sys, charrnn_tui.headless, charrnn_tui.training.trainer, charrnn_tui.runs.listing; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual' or m.startswith('charrnn_tui.tui')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
