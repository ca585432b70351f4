"""The shape the package keeps (issue: engine packages in layers): no module over MAX_MODULE_LINES lines and no
function over MAX_FUNCTION_LINES, so that each file has one concern and each function fits a screen. Complexity is
ruff's C901 (pyproject: at most 15), which .ci/run checks."""

from __future__ import annotations

import ast
from pathlib import Path

import charrnn_tui

MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60
PACKAGE = Path(charrnn_tui.__file__).parent


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_module_is_over_its_size() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def long_functions(source: str, limit: int = MAX_FUNCTION_LINES) -> dict[str, int]:
    """Functions (methods and nested ones too) of more than `limit` lines, decorators and docstring included."""
    found = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if (n := node.end_lineno - start + 1) > limit:
                found[f"{node.name} (line {node.lineno})"] = n
    return found


def test_no_function_is_over_a_screen() -> None:
    long = {
        f"{p.relative_to(PACKAGE)}: {name}": n for p in _modules() for name, n in long_functions(p.read_text()).items()
    }
    assert long == {}


def test_the_length_check_counts_what_it_says() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(59))
    assert long_functions(f"@decorator\ndef f():\n{body}\n") == {"f (line 2)": 61}
    assert long_functions(f"def f():\n{body}\n") == {}
