"""The saved runs as the app and the CLI list them: one RunSummary per folder, read without torch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from charrnn_tui.core.config import TrainConfig
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.runs.folder import CHECKPOINT_NAME, CONFIG_NAME, METRICS_NAME, RUN_FILES
from charrnn_tui.runs.metrics_log import MetricsLog
from charrnn_tui.runs.records import (
    CheckpointInfo,
    CorpusRecord,
    checkpoint_looks_whole,
    read_checkpoint_info,
    read_config,
)


# ---- listing saved runs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSummary:
    """A run folder as a list shows it. `problem` says what is damaged (the run can still be listed)."""

    path: Path
    config: TrainConfig | None
    corpus: CorpusRecord | None
    checkpoint: CheckpointInfo | None  # None: no checkpoint, or one whose details are not known
    has_checkpoint: bool
    problem: str | None = None
    mtime: float = 0.0

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def step(self) -> int | None:
        return self.checkpoint.step if self.checkpoint else None

    @property
    def best_val_loss(self) -> float | None:
        return self.checkpoint.best_val_loss if self.checkpoint else None


def summarize(run_dir: Path) -> RunSummary | None:
    """The run in `run_dir`, or None when the folder holds no run at all. Never raises."""
    try:
        names = {p.name for p in run_dir.iterdir()}
    except OSError:
        return None
    if not names & {CONFIG_NAME, CHECKPOINT_NAME}:
        return None
    problems, config, corpus = [], None, None
    try:
        rc = read_config(run_dir)
        config, corpus = rc.config, rc.corpus
    except CharRNNError as e:
        problems.append(str(e))
    has_ckpt = CHECKPOINT_NAME in names
    info = read_checkpoint_info(run_dir) if has_ckpt else None
    if has_ckpt and not checkpoint_looks_whole(run_dir):
        problems.append(f"{CHECKPOINT_NAME} is damaged (not a complete archive)")
        info = None
    try:
        skipped = MetricsLog(run_dir).read().skipped
    except CharRNNError as e:
        problems.append(str(e))
    else:
        if skipped:
            problems.append(f"{METRICS_NAME} has {len(skipped)} unreadable row(s)")
    try:
        mtime = max((run_dir / n).stat().st_mtime for n in names & set(RUN_FILES))
    except (OSError, ValueError):
        mtime = 0.0
    return RunSummary(run_dir, config, corpus, info, has_ckpt, "; ".join(problems) or None, mtime)


def list_runs(root: Path) -> list[RunSummary]:
    """The runs under `root`, the most recently written first. Damaged runs are listed with their problem."""
    try:
        folders = [p for p in root.iterdir() if p.is_dir()]
    except OSError:
        return []
    runs = [r for r in map(summarize, folders) if r is not None]
    return sorted(runs, key=lambda r: (r.mtime, r.name), reverse=True)
