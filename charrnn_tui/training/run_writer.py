"""The run folder as a training run writes it: the writer's lock, config.json, the metrics rows, checkpoints and
checkpoint.json, the recovery of a folder deleted mid-run, and a clean release. One object the trainer calls, so
that the loop does not know the disk (minGPT's trainer leaves saving to its caller in the same way)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from charrnn_tui.core.events import CheckpointSaved, Event, Notice
from charrnn_tui.model import checkpoint
from charrnn_tui.present.safetext import display_path
from charrnn_tui.runs.folder import CHECKPOINT_NAME, CONFIG_NAME, LOCK_NAME, METRICS_NAME, RunLock, remove_temporaries
from charrnn_tui.runs.metrics_log import MetricsLog
from charrnn_tui.runs.records import write_checkpoint_info, write_config
from charrnn_tui.training.state import TrainingState, checkpoint_payload
from charrnn_tui.training.step import check_weights


class RunWriter:
    """Writes one run's folder; every rank has one, and only the one that `acquire`s it writes. `history` holds the
    run's metrics rows as metrics.jsonl does (kept without a folder too), `last_checkpoint` the path of the last
    checkpoint saved, `saved_step` its step (-1: none this session), `last_save` when a save was last asked for
    (perf_counter seconds), which the checkpoint timer counts from."""

    def __init__(self, run_dir: Path | None, emit: Callable[[Event], None]) -> None:
        self.run_dir = run_dir
        self.history: list[dict[str, Any]] = []
        self.last_checkpoint: str | None = None
        self.saved_step = -1
        self.last_save = time.perf_counter()
        self.writes = False  # this process holds the lock and writes the folder
        self._emit = emit
        self._lock = RunLock(run_dir) if run_dir else None
        self._metrics = MetricsLog(run_dir) if run_dir else None
        self._config_written = False
        self._recovered = False  # the folder was made again: save the weights in memory at once

    def acquire(self) -> None:
        """Take the run's lock, before anything is read from the folder: another writer's files are not ours to
        read or clean. Raises CharRNNError when another process holds it."""
        self._lock.acquire()
        self.writes = True

    def open(self, state: TrainingState, resumed: bool) -> list[str]:
        """Start writing the folder, once the run is known to work (built and restored): a new run writes its
        config; a resumed one keeps the rows up to its checkpoint's step. Returns notices for the user."""
        notes = []
        remove_temporaries(self.run_dir)
        self.saved_step = state.step if resumed else -1
        if not resumed:
            self._write_config(state)
            self.history = []
        else:
            read = self._metrics.read(up_to_step=state.step)
            # Rows logged after the checkpoint (a crash, a kill) are dropped: the run continues from there.
            self.history = read.rows
            notes += [note] if (note := read.note(self._metrics.path)) else []
            self.last_checkpoint = str(self.run_dir / CHECKPOINT_NAME)
        self.rewrite_metrics(state)
        return notes

    def rewrite_metrics(self, state: TrainingState) -> None:
        if self.writes:
            self._ensure_folder(state)
            self._metrics.rewrite(self.history)

    def append(self, state: TrainingState, row: dict[str, Any]) -> None:
        """Add a metrics row to the history and, when writing, to metrics.jsonl."""
        if self.writes:
            self._ensure_folder(state)  # before the row joins the history: a folder made again gets the history
        self.history.append(row)
        if self.writes:
            self._metrics.append(row)
            if self._recovered:
                self._recovered = False
                self.save(state, "recovered")

    def save(self, state: TrainingState, reason: str) -> None:
        """Save the checkpoint and checkpoint.json (atomically) when writing; `reason` goes into CheckpointSaved.
        Raises step.Diverged for weights that are not finite: they must never replace a good file."""
        self.last_save = time.perf_counter()
        if not self.writes:
            return
        check_weights(state.model, state.step)
        t0 = time.perf_counter()
        self._ensure_folder(state)
        path = self.run_dir / CHECKPOINT_NAME
        checkpoint.save(path, checkpoint_payload(state))
        write_checkpoint_info(
            self.run_dir, step=state.step, best_val_loss=state.best.best_val, last_val_loss=state.best.last_val,
            elapsed_s=round(state.clock.elapsed(), 3), kept_step=state.kept_step,
        )  # fmt: skip
        if not self._config_written:  # a resumed run's record changes only once its checkpoint does
            self._write_config(state)
        self.last_checkpoint, self.saved_step = str(path), state.step
        state.clock.save_seconds = time.perf_counter() - t0
        self._emit(CheckpointSaved(state.step, str(path), reason))

    def checkpoint_on_disk(self) -> str | None:
        """The last checkpoint this run saved, if it is still there (its folder may have been deleted)."""
        return self.last_checkpoint if self.last_checkpoint and Path(self.last_checkpoint).exists() else None

    def close(self, resumed: bool) -> None:
        """Release the run; a new run that failed before its first checkpoint leaves no folder behind."""
        if self._lock is None or not self._lock.held:
            return
        try:
            if not resumed and not (self.run_dir / CHECKPOINT_NAME).exists():
                for name in (CONFIG_NAME, METRICS_NAME, LOCK_NAME):
                    (self.run_dir / name).unlink(missing_ok=True)
                self.run_dir.rmdir()  # only when nothing else is in it
        except OSError:
            pass
        finally:
            self._lock.release()

    def _write_config(self, state: TrainingState) -> None:
        write_config(self.run_dir, state.config, state.corpus)
        self._config_written = True

    def _ensure_folder(self, state: TrainingState) -> None:
        """A run folder deleted during training is made again from what is in memory."""
        if self.run_dir.is_dir():
            return
        self._lock.release()
        self._lock.acquire()  # creates the folder, and refuses if another writer took it meanwhile
        self._write_config(state)
        self._metrics.rewrite(self.history)
        self.saved_step = -1
        self._emit(Notice(state.step, f"the run folder {display_path(self.run_dir)} was deleted during training; it "
                                      "was made again and the weights in memory are saved there"))  # fmt: skip
        self._recovered = True
