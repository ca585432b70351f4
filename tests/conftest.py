"""Shared fixtures: every test gets its own data dir, a small real corpus and tiny real trainings."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from helpers.processes import run_all

from charrnn_tui.core.config import TINY, TrainConfig
from charrnn_tui.text.corpus import Corpus, load_builtin

# One intra-op thread in the test process, as the CLI subprocesses get (OMP_NUM_THREADS=1 below): the
# suite's models are tiny, and on 2 shared cores two spinning OpenMP threads beside a subprocess or another
# job starve each other (a 24-step tiny resume test took 73 s in a CI run beside a training, against ~5 s).
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def data_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test ever writes into the user's real data dir."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("CHARRNN_TUI_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def small_corpus() -> Corpus:
    """The first 20,000 characters of Hamlet: enough for tiny batches, quick to encode and evaluate."""
    return Corpus("hamlet-head", load_builtin("hamlet").text[:20_000], "built-in")


@pytest.fixture
def small_text_file(tmp_path: Path, small_corpus: Corpus) -> Path:
    path = tmp_path / "play.txt"
    path.write_text(small_corpus.text, encoding="utf-8")
    return path


@pytest.fixture
def tiny() -> Callable[..., TrainConfig]:
    """The tiny preset on CPU, a few steps, with overrides: `tiny(steps=10, sampling="random")`."""

    def make(**overrides) -> TrainConfig:
        base = replace(TINY, device="cpu", steps=20, eval_interval=10, log_interval=5, checkpoint_seconds=0)
        return replace(base, **overrides)

    return make


@pytest.fixture
def cli_environ(data_home: Path) -> dict[str, str]:
    """The environment for a CLI subprocess (for tests that need Popen)."""
    return cli_env(data_home)


@pytest.fixture
def run_cli(data_home: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run `python -m charrnn_tui ARGS` in a real subprocess, as a user would."""

    def run(*args: str, timeout: float = 60, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "charrnn_tui", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=cli_env(data_home) | (env or {}),
        )

    return run


@pytest.fixture
def run_cli_together(data_home: Path) -> Callable[..., list[subprocess.CompletedProcess]]:
    """Run several independent `python -m charrnn_tui ARGS` at once, each a real subprocess as run_cli runs it:
    `first, second = run_cli_together(args1, args2)`. A CLI process is one thread that spends most of its time
    importing torch, so on two cores two of them take about the time of one."""

    def run(*commands: Sequence[str], timeout: float = 60) -> list[subprocess.CompletedProcess]:
        return run_all([[sys.executable, "-m", "charrnn_tui", *args] for args in commands], cli_env(data_home), timeout)

    return run


def cli_env(home: Path) -> dict[str, str]:
    # One thread per process: the suite shares two cores, and subprocess tests run beside pytest itself.
    return os.environ | {"CHARRNN_TUI_HOME": str(home), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
