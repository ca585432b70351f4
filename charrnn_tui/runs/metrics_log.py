"""The run's metrics log (metrics.jsonl): one JSON row per logged step, appended as the run trains, rewritten
whole on resume, read back with damaged rows skipped."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.present.safetext import display_path
from charrnn_tui.runs.folder import METRICS_NAME, atomic_write, disk_error
from charrnn_tui.runs.records import _is_count


# ---- metrics.jsonl --------------------------------------------------------------------------------------
@dataclass
class MetricsRead:
    rows: list[dict[str, Any]]
    skipped: list[int] = field(default_factory=list)  # 1-based line numbers of rows that were not usable

    def note(self, path: Path) -> str | None:
        """A line for the user when rows were skipped, else None."""
        if not self.skipped:
            return None
        lines = ", ".join(map(str, self.skipped[:5])) + (" ..." if len(self.skipped) > 5 else "")
        return f"skipped {len(self.skipped)} unreadable row(s) of {display_path(path)} (line {lines})"


def _good_row(row: Any) -> bool:
    if not isinstance(row, dict) or not _is_count(row.get("step")):
        return False
    for key in ("train_loss", "val_loss", "lr", "chars_per_s", "elapsed_s", "final_val_loss"):
        v = row.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)):
            return False
    return True


class MetricsLog:
    """metrics.jsonl: one JSON object per logged step; losses are nats/char."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / METRICS_NAME

    def read(self, up_to_step: int | None = None) -> MetricsRead:
        """The usable rows (up to `up_to_step` when given). A torn last line (a crash mid-write) or an edited
        row is skipped and its line number reported, never raised."""
        out = MetricsRead([])
        try:
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return out
        except OSError as e:
            raise CharRNNError(f"cannot read {display_path(self.path)}: {e.strerror or e}") from None
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                row = None
            if not _good_row(row):
                out.skipped.append(n)
            elif up_to_step is None or row["step"] <= up_to_step:
                out.rows.append(row)
        return out

    def append(self, row: dict[str, Any]) -> None:
        """Add one row at the end (append_rows)."""
        self.append_rows([row])

    def append_rows(self, rows: Iterable[dict[str, Any]]) -> None:
        """Add rows at the end. Raises DiskError when the disk refuses them, having cut the file back to its
        length before: a row half-written to a full disk is never left behind (the next row would join it)."""
        data = memoryview("".join(json.dumps(r) + "\n" for r in rows).encode("utf-8"))
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as e:
            raise disk_error(self.path, e) from None
        try:
            size = os.fstat(fd).st_size
            while data:  # a full disk takes part of a write before it refuses the rest
                data = data[os.write(fd, data) :]
        except OSError as e:
            try:
                os.ftruncate(fd, size)  # shrinking needs no space
            except OSError:
                pass  # a file that cannot be cut back: its torn row is skipped when read, and dropped on resume
            raise disk_error(self.path, e) from None
        finally:
            os.close(fd)

    def rewrite(self, rows: Iterable[dict[str, Any]]) -> None:
        text = "".join(json.dumps(r) + "\n" for r in rows)
        try:
            atomic_write(self.path, lambda f: f.write(text.encode("utf-8")))
        except OSError as e:
            raise disk_error(self.path, e) from None


def read_metrics(path: Path, up_to_step: int | None = None) -> list[dict[str, Any]]:
    """The usable rows of the metrics file at `path` (see MetricsLog.read)."""
    return MetricsLog(path.parent).read(up_to_step).rows
