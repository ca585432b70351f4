"""Reading a run's metrics.jsonl. Torch-free, so the app can list runs without loading torch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_metrics(path: Path, up_to_step: int | None = None) -> list[dict[str, Any]]:
    """The rows of a metrics.jsonl; a torn last line (a crash mid-write) is skipped."""
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return rows
    for line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and (up_to_step is None or row.get("step", 0) <= up_to_step):
            rows.append(row)
    return rows
