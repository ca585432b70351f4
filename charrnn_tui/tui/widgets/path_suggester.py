"""Completion for the corpus path input: the first entry of the typed folder that starts with what follows
the last slash (folders get a trailing slash so completion can go on). Names with a character a terminal
would obey are never offered: they could not be shown as they are, and shown escaped they name no file."""

from __future__ import annotations

import os
from pathlib import Path

from textual.suggester import Suggester

from charrnn_tui.present.safetext import one_line


class PathSuggester(Suggester):
    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        head, _, prefix = value.rpartition("/")
        folder = Path(os.path.expanduser(head + "/" if head or value.startswith("/") else "."))
        try:
            entries = [e for e in os.scandir(folder) if one_line(e.name) == e.name]
            names = sorted(e.name + ("/" if e.is_dir() else "") for e in entries)
        except OSError:
            return None
        for name in names:
            if name.startswith(prefix) and name != prefix and (prefix.startswith(".") or not name.startswith(".")):
                return (head + "/" if "/" in value else "") + name
        return None
