"""The import boundaries: every module is classed as engine or front end in pyproject's import-linter contracts
(which .ci/run checks), and the headless path never loads Textual."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import charrnn_tui

FRONT_ENDS = {"charrnn_tui.cli", "charrnn_tui.headless", "charrnn_tui.tui", "charrnn_tui.__main__"}


def test_every_module_is_classed_as_engine_or_front_end() -> None:
    config = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    engine = set(next(c for c in contracts if "engine" in c["name"])["source_modules"])
    modules = {f"charrnn_tui.{m.name}" for m in pkgutil.iter_modules(charrnn_tui.__path__)} - {"charrnn_tui.data"}
    assert modules - engine - FRONT_ENDS == set(), "add new modules to the engine contract in pyproject.toml"
    assert engine <= modules, "the engine contract names modules that no longer exist"


def test_the_headless_path_never_loads_textual() -> None:
    code = (
        "import sys, charrnn_tui.headless, charrnn_tui.trainer, charrnn_tui.runfolder; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual' or m.startswith('charrnn_tui.tui')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
