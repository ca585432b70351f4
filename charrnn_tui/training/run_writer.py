"""The run folder as a training run writes it: the writer's lock, config.json, the metrics rows, checkpoints and
checkpoint.json, the recovery of a folder deleted mid-run, a disk that refuses writes, and a clean release. One
object the trainer calls, so that the loop does not know the disk (minGPT's trainer leaves saving to its caller in
the same way).

A disk that says no (full, a quota, a folder made read-only) does not end the training: the rows wait in memory,
the checkpoint on disk stays as it was, the user is told once, and every later row and checkpoint tries again, so
the run writes its folder again as soon as there is room. Only the final save, after which the weights would be
gone, fails the run, saying where the weights are not and what to do (docs/robustness.md)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from charrnn_tui.core.events import CheckpointSaved, Event, Notice
from charrnn_tui.model import checkpoint
from charrnn_tui.present.formatting import resume_command
from charrnn_tui.present.safetext import display_path
from charrnn_tui.runs.folder import (
    CHECKPOINT_NAME,
    CONFIG_NAME,
    LOCK_NAME,
    METRICS_NAME,
    DiskError,
    RunLock,
    remove_temporaries,
)
from charrnn_tui.runs.metrics_log import MetricsLog
from charrnn_tui.runs.records import record_end, write_checkpoint, write_config
from charrnn_tui.training.state import TrainingState, checkpoint_payload
from charrnn_tui.training.step import check_weights


class RunWriter:
    """Writes one run's folder; every rank has one, and only the one that `acquire`s it writes. `history` holds the
    run's metrics rows as metrics.jsonl does (kept without a folder too), `last_checkpoint` the path of the last
    checkpoint saved, `saved_step` its step (-1: none this session), `last_save` when a save was last asked for
    (perf_counter seconds), which the checkpoint timer counts from. `disk_step` is the step of the checkpoint on
    disk (None: none), `refused` the disk's refusal while one lasts (None when the folder takes writes)."""

    def __init__(self, run_dir: Path | None, emit: Callable[[Event], None]) -> None:
        self.run_dir = run_dir
        self.history: list[dict[str, Any]] = []
        self.last_checkpoint: str | None = None
        self.saved_step = -1
        self.disk_step: int | None = None
        self.refused: DiskError | None = None
        self.last_save = time.perf_counter()
        self.writes = False  # this process holds the lock and writes the folder
        self._emit = emit
        self._lock = RunLock(run_dir) if run_dir else None
        self._metrics = MetricsLog(run_dir) if run_dir else None
        self._rows_on_disk = 0  # metrics.jsonl holds history[:this]
        self._rows_changed = False  # a row on disk differs from its history: the file is rewritten whole
        self._config_written = False
        self._recovered = False  # the folder was made again: save the weights in memory at once
        self.end: tuple[str, int] | None = None  # why the run ended and its stalled evaluations, once it has

    def acquire(self) -> None:
        """Take the run's lock, before anything is read from the folder: another writer's files are not ours to
        read or clean. Raises CharRNNError when another process holds it (DiskError when it cannot be written)."""
        self._lock.acquire()
        self.writes = True

    def open(self, state: TrainingState, resumed: bool) -> list[str]:
        """Start writing the folder, once the run is known to work (built and restored): a new run writes its
        config; a resumed one keeps the rows up to its checkpoint's step. Returns notices for the user. Raises
        DiskError when the folder cannot be written at all: nothing has been trained yet."""
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
            self.disk_step = state.step
        self._rows_changed = True
        self._write_rows(state)
        return notes

    def rewrite_metrics(self, state: TrainingState) -> None:
        """Write metrics.jsonl again from `history`, whose rows have changed (a refusal waits, as append's)."""
        self._rows_changed = True
        if self.writes and self._try(state, self._ensure_folder):
            self._try(state, self._write_rows)

    def append(self, state: TrainingState, row: dict[str, Any]) -> None:
        """Add a metrics row to the history and, when writing, to metrics.jsonl (with any rows a refusing disk
        kept waiting)."""
        if self.writes and not self._try(state, self._ensure_folder):
            self.history.append(row)
            return
        self.history.append(row)  # after the folder is made again: a folder made again gets the history
        if self.writes:
            self._try(state, self._write_rows)
            if self._recovered:
                self._recovered = False
                self.save(state, "recovered")

    def save(self, state: TrainingState, reason: str) -> None:
        """Save the checkpoint and checkpoint.json (together, atomically) when writing; `reason` goes into
        CheckpointSaved. A disk that refuses keeps the checkpoint on disk as it was: training goes on, told once,
        and the next save tries again; for the "final" save it raises DiskError saying that the weights are not
        on disk and what to do. Raises step.Diverged for weights that are not finite: they must never replace a
        good file."""
        self.last_save = time.perf_counter()
        if not self.writes:
            return
        check_weights(state.model, state.step)
        t0 = time.perf_counter()
        data = checkpoint.serialise(checkpoint_payload(state))  # in memory: not the disk's to refuse
        try:
            self._ensure_folder(state)
            self._write_rows(state)  # the rows up to this step reach the disk before the checkpoint does
            self._write_checkpoint(state, data)
        except DiskError as e:
            if reason == "final":
                raise self._not_saved(state, e) from None
            self._refusal(state, e)
            return
        path = self.run_dir / CHECKPOINT_NAME
        self.last_checkpoint, self.saved_step, self.disk_step = str(path), state.step, state.step
        if self.refused is not None:
            self.refused = None
            self._emit(Notice(state.step, f"the run folder {display_path(self.run_dir)} takes writes again: the "
                                          f"checkpoint of step {state.step:,} is saved"))  # fmt: skip
        if not self._config_written:  # a resumed run's record changes only once its checkpoint does
            self._try(state, self._write_config)
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

    # ---- the writes ------------------------------------------------------------------------------------------
    def _write_checkpoint(self, state: TrainingState, data: memoryview) -> None:
        best = state.best
        # The best step's weights are in checkpoint.pt: kept (keep_best) as its best_weights, or its own weights
        # when the best evaluation is its last.
        best_here = best.best_step is not None and (best.weights is not None or best.best_step == state.step)
        write_checkpoint(
            self.run_dir, data, step=state.step, best_val_loss=best.best_val, last_val_loss=best.last_val,
            elapsed_s=round(state.clock.elapsed(), 3), kept_step=state.kept_step, best_step=best.best_step,
            best_weights=CHECKPOINT_NAME if best_here else None, end_reason=self.end[0] if self.end else None,
            stalled_evals=self.end[1] if self.end else 0,
        )  # fmt: skip

    def record_end(self, state: TrainingState) -> None:
        """Say why the run ended (`end`) in the record of the checkpoint on disk, saved before the end; a disk
        that refuses is told, as for a save."""
        if self.writes and self.end is not None and self.last_checkpoint is not None:
            self._try(state, lambda _: record_end(self.run_dir, *self.end))

    def _write_rows(self, state: TrainingState) -> None:
        """Bring metrics.jsonl level with `history`: the missing rows appended, or the whole file rewritten when a
        row on disk changed. Raises DiskError, the file left as it was."""
        if self._rows_changed:
            self._metrics.rewrite(self.history)
        elif self._rows_on_disk < len(self.history):
            self._metrics.append_rows(self.history[self._rows_on_disk :])
        self._rows_on_disk, self._rows_changed = len(self.history), False

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
        self._rows_changed = True
        self._write_rows(state)
        self.saved_step, self.disk_step = -1, None
        self._emit(Notice(state.step, f"the run folder {display_path(self.run_dir)} was deleted during training; it "
                                      "was made again and the weights in memory are saved there"))  # fmt: skip
        self._recovered = True

    # ---- a disk that says no ---------------------------------------------------------------------------------
    def _try(self, state: TrainingState, write: Callable[[TrainingState], None]) -> bool:
        """Run `write`; a refusal of the disk is told (once) rather than raised. Returns whether it wrote."""
        try:
            write(state)
        except DiskError as e:
            self._refusal(state, e)
            return False
        return True

    def _refusal(self, state: TrainingState, e: DiskError) -> None:
        if self.refused is not None:
            return  # told once; the first save that works says so
        self.refused = e
        kept = (
            f"the checkpoint of step {self.disk_step:,} stays as it was"
            if self.disk_step is not None
            else "no checkpoint of this run is saved yet"
        )
        self._emit(Notice(state.step, f"cannot write {display_path(e.path)}: {e.why}; training goes on and keeps "
                                      f"its rows in memory, {kept}, and each later checkpoint tries again: "
                                      f"{e.remedy} to let it save"))  # fmt: skip

    def _not_saved(self, state: TrainingState, e: DiskError) -> DiskError:
        """The final save's refusal, in words that say where the weights are not and what to do."""
        where = display_path(e.path)
        head = f"cannot save the weights of step {state.step:,}: {where}: {e.why}, so they are not on disk"
        if self.disk_step is not None:
            tail = (
                f"the checkpoint of step {self.disk_step:,} in {display_path(self.run_dir)} is kept as it was; "
                f"{e.remedy}, then continue it with: {resume_command(self.run_dir)}"
            )
        else:
            tail = f"this run has no checkpoint on disk; {e.remedy} and train it again"
        return DiskError(f"{head}; {tail}", e.path, e.why, e.remedy)
