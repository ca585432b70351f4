"""What the trainer reports. Plain frozen dataclasses, so any front end (TUI, headless, tests) can
consume them from any thread."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Started:
    step: int  # 0, or the step a resumed run continues from
    config: dict[str, Any]
    corpus_name: str
    run_dir: str | None
    device: str
    n_params: int
    vocab_size: int
    train_chars: int
    val_chars: int
    world_size: int = 1
    resumed: bool = False
    history: tuple[dict[str, Any], ...] = ()  # metrics rows of a resumed run, for its curve
    threads: int | None = None  # intra-op threads on a CPU (None on a GPU)
    threads_chosen: bool = False  # the trainer times the counts as it trains (charrnn_tui/training/cpu_threads.py)


@dataclass(frozen=True)
class Step:
    """Every optimiser step."""

    step: int
    train_loss: float
    lr: float
    chars_per_s: float
    elapsed_s: float
    eta_s: float | None
    progress: float | None  # 0..1 of the step or time budget; None when unbounded
    threads: int | None = None  # intra-op threads training runs on, a probe's own steps aside; None on a GPU


@dataclass(frozen=True)
class ThreadsChanged:
    """Training moved to another intra-op thread count, the fastest when the counts were just timed
    (charrnn_tui/training/cpu_threads.py): `step_seconds` holds (count, median seconds a step) pairs, fastest first."""

    step: int
    threads: int
    previous: int
    step_seconds: tuple[tuple[int, float], ...]


@dataclass(frozen=True)
class Sample:
    """The model's argmax prediction for one batch row, beside its input and target."""

    step: int
    input: str
    target: str
    prediction: str


@dataclass(frozen=True)
class Logged:
    """One row of metrics.jsonl: every log interval, at each evaluation and at the end."""

    row: dict[str, Any]


@dataclass(frozen=True)
class Evaluated:
    step: int
    val_loss: float
    best_val_loss: float
    elapsed_s: float


@dataclass(frozen=True)
class CheckpointSaved:
    step: int
    path: str
    reason: str  # "eval", "timer", "request", "final", "recovered" (the folder was made again)


@dataclass(frozen=True)
class Paused:
    step: int


@dataclass(frozen=True)
class Unpaused:
    step: int


@dataclass(frozen=True)
class Notice:
    """Something the user should know that did not stop the run (a changed corpus, skipped metrics rows,
    a run folder recreated after it was deleted)."""

    step: int
    message: str


@dataclass(frozen=True)
class Finished:
    step: int
    reason: str  # "steps", "time", "patience" (no better evaluation in `stalled_evals`), "stopped"
    elapsed_s: float
    last_val_loss: float | None
    best_val_loss: float | None
    run_dir: str | None
    checkpoint: str | None
    kept_step: int | None = None  # set when keep_best ended the run on an earlier step's weights
    stalled_evals: int = 0  # evaluations without a new best at the end (this session's, as patience counts them)


@dataclass(frozen=True)
class Failed:
    step: int
    message: str
    run_dir: str | None
    checkpoint: str | None  # the last good checkpoint, if any
    details: str = field(default="", repr=False)  # a traceback for logs, never the main message


Event = (
    Started
    | Step
    | ThreadsChanged
    | Sample
    | Logged
    | Evaluated
    | CheckpointSaved
    | Paused
    | Unpaused
    | Notice
    | Finished
    | Failed
)
