"""Where runs live on disk. One place, so tests and users can point it elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "charrnn-tui"


def data_dir() -> Path:
    """The user data dir; `CHARRNN_TUI_HOME` overrides it (platformdirs also honours XDG_DATA_HOME)."""
    override = os.environ.get("CHARRNN_TUI_HOME")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_path

    return user_data_path(APP_NAME, appauthor=False)


def runs_dir() -> Path:
    return data_dir() / "runs"
