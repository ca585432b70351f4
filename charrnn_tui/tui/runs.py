"""Saved runs, read from their config.json and metrics.jsonl only, so listing them never imports torch."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charrnn_tui.config import TrainConfig
from charrnn_tui.errors import CharRNNError
from charrnn_tui.metrics import read_metrics

CHECKPOINT_NAME = "checkpoint.pt"  # as in checkpoint.py, which imports torch


@dataclass(frozen=True)
class SavedRun:
    path: Path
    corpus_name: str
    corpus_spec: str  # what load_corpus takes: a built-in name or the file's path
    config: TrainConfig
    steps: int
    best_val_loss: float | None
    has_checkpoint: bool

    @property
    def name(self) -> str:
        return self.path.name


def read_rows(path: Path) -> list[dict[str, Any]]:
    try:
        return read_metrics(path)
    except OSError:
        return []


def read_run(path: Path) -> SavedRun | None:
    """A run folder as the list shows it, or None when it is not one (no readable config.json)."""
    try:
        info = json.loads((path / "config.json").read_text(encoding="utf-8"))
        corpus = info["corpus"]
        config = TrainConfig.from_dict(info["config"])
        config.validate()  # the list formats these settings: a hand-edited or damaged file is not a run
    except (OSError, ValueError, KeyError, TypeError, AttributeError, CharRNNError):
        return None
    rows = read_rows(path / "metrics.jsonl")
    vals = [r["val_loss"] for r in rows if isinstance(r.get("val_loss"), int | float)]
    builtin = corpus.get("source") == "built-in"
    return SavedRun(
        path=path,
        corpus_name=str(corpus.get("name", "?")),
        corpus_spec=str(corpus.get("name") if builtin else corpus.get("source")),
        config=config,
        steps=max((int(r.get("step", 0)) for r in rows), default=0),
        best_val_loss=min(vals) if vals else None,
        has_checkpoint=(path / CHECKPOINT_NAME).is_file(),
    )


def list_runs(root: Path) -> list[SavedRun]:
    """The runs under `root`, newest first (folder names end in a timestamp, so sort by mtime)."""
    try:
        folders = [p for p in root.iterdir() if p.is_dir()]
    except OSError:
        return []
    runs = [r for r in (read_run(p) for p in folders) if r is not None]
    return sorted(runs, key=lambda r: (r.path.stat().st_mtime, r.name), reverse=True)
