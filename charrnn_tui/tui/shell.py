"""A run folder as the user types it in a shell: the path to show, and the CLI commands that use it."""

from __future__ import annotations

import shlex
from pathlib import Path


def shown_path(path: Path) -> str:
    """`path` as a user types it: an absolute path under the home directory starts with ~ (shorter, and a
    shell expands it); a relative path (tests) stays as it is."""
    path = path.expanduser()
    if not path.is_absolute():
        return path.as_posix()
    try:
        return "~/" + path.relative_to(Path.home()).as_posix()
    except ValueError:
        return str(path)


def shell_path(path: Path) -> str:
    """`shown_path` quoted for a shell command line; ~ stays outside the quotes so the shell expands it."""
    shown = shown_path(path)
    if shown.startswith("~/"):
        return "~/" + shlex.quote(shown[2:])
    return shlex.quote(shown)


def generate_command(path: Path) -> str:
    return f"charrnn-tui --generate-only --run-dir {shell_path(path)}"


def resume_command(path: Path) -> str:
    return f"charrnn-tui --train-only --resume --run-dir {shell_path(path)}"
