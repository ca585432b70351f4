"""--help and the usage of a usage error fit the terminal's width (COLUMNS), in real subprocesses: no line
past 80 cells at COLUMNS=80, nothing lost or reordered on the way, and the example commands never broken."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest
from rich.cells import cell_len

from charrnn_tui.cli import EPILOG, build_parser


def widest(text: str) -> int:
    return max(cell_len(line) for line in text.splitlines())


def usage_of(text: str) -> list[str]:
    """The words of the usage at the top of `text` (up to its first blank line)."""
    return text.split("\n\n")[0].split()


def example_lines() -> list[str]:
    block = EPILOG.split("\n\n")[0].splitlines()
    assert block[0] == "examples:" and len(block) > 3
    return block[1:]


@pytest.fixture(scope="module")
def wide_usage(tmp_path_factory) -> list[str]:
    """The usage as argparse lays it out with room to spare: one line, nothing to wrap."""
    done = subprocess.run(
        [sys.executable, "-m", "charrnn_tui", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ | {"COLUMNS": "1000", "CHARRNN_TUI_HOME": str(tmp_path_factory.mktemp("home"))},
    )
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("usage: charrnn-tui [-h] [--train-only | --generate-only") and first.endswith("[--int8]")
    return first.split()


@pytest.mark.parametrize("columns", [80, 120, 60])
def test_help_fits_and_is_whole(run_cli, wide_usage: list[str], columns: int) -> None:
    done = run_cli("--help", env={"COLUMNS": str(columns)})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    if columns >= 80:  # below that only an example command, kept whole, may be wider
        assert widest(out) <= columns, [line for line in out.splitlines() if cell_len(line) > columns]
    assert usage_of(out) == wide_usage
    for line in example_lines():  # each command as written, on one line
        assert line in out.splitlines()
    # The prose of the epilog, refilled, keeps every word in order.
    output_words = EPILOG.split("output:\n")[1].split("\n\n")[0].split()
    assert " ".join(output_words) in " ".join(out.split("output:\n")[1].split())
    assert " ".join(out.split()).endswith("OMP_NUM_THREADS=N pins the count (torchrun sets it).")
    assert out.endswith(".\n")


def test_the_usage_lines_up_under_the_prefix_only_where_it_must(run_cli) -> None:
    at_80 = run_cli("--help", env={"COLUMNS": "80"}).stdout.splitlines()
    assert at_80[1] == "       [--train-only | --generate-only | --list-corpora | --baseline]"
    at_120 = run_cli("--help", env={"COLUMNS": "120"}).stdout.splitlines()
    # Where every group fits, argparse's own layout: the lines aligned under the program's name.
    assert at_120[1].startswith(" " * len("usage: charrnn-tui ") + "[")


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--preset", "nope"], "argument --preset: invalid choice: 'nope'"),
        (["--train-only", "--generate-only"], "not allowed with argument"),
    ],
)
def test_the_usage_of_a_usage_error_fits_at_80(run_cli, wide_usage: list[str], args: list[str], complaint: str) -> None:
    done = run_cli(*args, env={"COLUMNS": "80"})
    assert done.returncode == 2
    assert done.stdout == ""
    # The usage fits; the error itself stays one line, as every error is written (it can list choices).
    *usage, last = done.stderr.splitlines()
    assert max(cell_len(line) for line in usage) <= 80, usage
    assert usage_of("\n".join(usage)) == wide_usage
    assert last.startswith("charrnn-tui: error: ") and complaint in last


@pytest.mark.parametrize("columns", [80, 60, 1000])
def test_the_usage_lists_every_option_of_the_parser(monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    """Where argparse's usage would overflow (80, 60), build_parser gives the usage explicitly: it must still
    name every option the parser has, in the parser's order, so that a new flag cannot be missing from it."""
    monkeypatch.setenv("COLUMNS", str(columns))  # what shutil.get_terminal_size, and so argparse, reads first
    parser = build_parser()
    assert (parser.usage is None) == (columns == 1000)  # the explicit usage where it must be, argparse's elsewhere
    # argparse's usage names an option by its first string (-h for -h/--help), both forms of a --x/--no-x flag.
    # _actions is argparse's list of what the parser takes; no public way gives it.
    expected = [
        name
        for action in parser._actions
        for name in (
            action.option_strings if isinstance(action, argparse.BooleanOptionalAction) else action.option_strings[:1]
        )
    ]
    named = [word.strip("[]()|") for word in parser.format_usage().split()]
    assert [word for word in named if word.startswith("-")] == expected
    assert len(expected) > 40 and "--int8" in expected and "--no-keep-best" in expected
