"""Where runs live on disk. One place, so tests and users can point it elsewhere."""

from __future__ import annotations

import os
import re
import time
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


def new_run_dir(corpus_name: str, now: float | None = None) -> Path:
    """A fresh `runs/<corpus>-<timestamp>/` path (not created)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", corpus_name).strip("-") or "corpus"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    base = runs_dir() / f"{slug}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path
