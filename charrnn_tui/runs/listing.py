"""The saved runs as the app and the CLI list them: one RunSummary per folder, read without torch.

A data dir can hold thousands of runs, and a run's metrics.jsonl and checkpoint.pt grow with its length, so a
listing reads only what stays small: config.json, checkpoint.json, the folder's file sizes and times, and the
last row of metrics.jsonl. checkpoint.pt is opened only when checkpoint.json does not vouch for it.
docs/benchmarks.md has the figures (10 against 3,000 runs).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from charrnn_tui.core.config import TrainConfig
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.present.safetext import display_path
from charrnn_tui.runs.folder import CHECKPOINT_NAME, CONFIG_NAME, METRICS_NAME, RUN_FILES
from charrnn_tui.runs.metrics_log import _good_row  # the row check MetricsLog.read makes
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

    @property
    def best_step(self) -> int | None:
        """The step of the best evaluation (the one best_val_loss is of); None when not known."""
        return self.checkpoint.best_step if self.checkpoint else None

    @property
    def best_weights_path(self) -> Path | None:
        """The file that holds the best step's weights (checkpoint.pt, docs/robustness.md); None when not kept."""
        name = self.checkpoint.best_weights if self.checkpoint else None
        return self.path / name if name else None

    @property
    def generates_with_best(self) -> bool:
        """The weights the run generates with are its best evaluation's (else they are later ones)."""
        return bool(self.checkpoint and self.checkpoint.generates_with_best)


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
    # checkpoint.json holds the size and mtime of the checkpoint the trainer wrote whole (atomically): while
    # they match, the file is that one, and only a checkpoint it does not vouch for is opened to be checked.
    if has_ckpt and info is None and not checkpoint_looks_whole(run_dir):
        problems.append(f"{CHECKPOINT_NAME} is damaged (not a complete archive)")
    if METRICS_NAME in names:
        problem = last_row_problem(run_dir / METRICS_NAME)
        if problem:
            problems.append(problem)
    try:
        mtime = max((run_dir / n).stat().st_mtime for n in names & set(RUN_FILES))
    except (OSError, ValueError):
        mtime = 0.0
    return RunSummary(run_dir, config, corpus, info, has_ckpt, "; ".join(problems) or None, mtime)


TAIL_BYTES = 4096  # a metrics row is ~150 bytes: the last one is whole in the file's last 4 kB


def last_row_problem(path: Path) -> str | None:
    """What is wrong with the last row of metrics.jsonl at `path`, or None when it is a good row (or the file
    is empty). Reads only the file's tail, so a listing costs the same for a run of any length: a write cut
    short (a crash, a full disk) leaves its damage at the end. A row damaged further up (an edit by hand)
    is found where the rows are read (resuming names the skipped rows). Never raises."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            want = TAIL_BYTES
            while True:
                start = max(0, size - want)
                f.seek(start)
                lines = [line for line in f.read().split(b"\n") if line.strip()]
                # The first line read may be the end of a longer one: read further back until it is whole.
                if start == 0 or len(lines) > 1:
                    break
                want *= 4
    except OSError as e:
        return f"cannot read {display_path(path)}: {e.strerror or e}"
    if not lines:
        return None
    try:
        good = _good_row(json.loads(lines[-1].decode("utf-8", errors="replace")))
    except ValueError:
        good = False
    return None if good else f"{METRICS_NAME} ends in an unreadable row (a write cut short?)"


PAGE = 200  # runs per page of `iter_runs`: a screenful or two, read in ~25 ms


def run_folders(root: Path) -> list[Path]:
    """The folders under `root`, ordered as `list_runs` orders its runs, from their files' times alone (a stat
    each, no file read: ~30 ms for 3,000): the order in which `iter_runs` reads them. A folder that holds no run
    is among them (`summarize` leaves it out), so their number is the most runs a listing can find. Never
    raises (an unreadable `root` has none)."""
    try:
        folders = [p for p in root.iterdir() if p.is_dir()]
    except OSError:
        return []

    def stamp(folder: Path) -> tuple[float, str]:
        times = []
        for name in RUN_FILES:
            try:
                times.append((folder / name).stat().st_mtime)
            except OSError:
                continue
        return max(times, default=0.0), folder.name

    return sorted(folders, key=stamp, reverse=True)


def iter_runs(root: Path, page: int = PAGE, folders: list[Path] | None = None) -> Iterator[list[RunSummary]]:
    """The runs under `root` in pages of up to `page`, the most recently written first (as `list_runs`): a
    list of thousands of runs can show its first page while the rest are read. `folders`: `run_folders(root)`
    when the caller already has them (to say how many there are before the first page). Never raises."""
    folders = run_folders(root) if folders is None else folders
    for start in range(0, len(folders), page):
        runs = [r for r in map(summarize, folders[start : start + page]) if r is not None]
        if runs:
            yield runs


def list_runs(root: Path) -> list[RunSummary]:
    """The runs under `root`, the most recently written first. Damaged runs are listed with their problem."""
    runs = [r for runs in iter_runs(root) for r in runs]
    # Sorted again on the summaries' own times: a run that trained on while the pages were read moves up.
    return sorted(runs, key=lambda r: (r.mtime, r.name), reverse=True)
