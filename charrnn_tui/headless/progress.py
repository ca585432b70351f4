"""`--train-only`'s progress on stdout: one plain line per event (the start, logged rows, thread changes, notes,
errors) and the closing summary, each a pure function of the event."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from typing import Any, ClassVar

from charrnn_tui.core.events import (
    CheckpointSaved,
    Event,
    Failed,
    Finished,
    Logged,
    Notice,
    Started,
    Step,
    ThreadsChanged,
)
from charrnn_tui.present.formatting import (
    LN2,
    fmt_duration,
    fmt_thread_count,
    fmt_threads_changed,
    fmt_weights,
    fmt_why_ended,
)
from charrnn_tui.present.safetext import write_line

# The reader of the output is gone (`| head` closed the pipe, the terminal hung up): nobody can see the run.
READER_GONE = (errno.EPIPE, errno.EIO, errno.ENXIO)


class ProgressPrinter:
    """Turns trainer events into plain lines on stdout (diagnostics on stderr).

    A line that cannot be written never ends the training. When the reader of a stream is gone (EPIPE, EIO),
    `on_reader_gone(why)` is called once, so that the run can stop after its step with a checkpoint; any other
    failure (a full disk behind `> file`) silences that stream with one note on the other, and training goes on.
    `lost` holds the streams that failed."""

    def __init__(self, out=sys.stdout, on_reader_gone: Callable[[str], None] | None = None) -> None:
        self.out = out
        self.on_reader_gone = on_reader_gone
        self.lost: list[Any] = []
        self.val_loss: float | None = None
        self.steps = 0
        self.eta: float | None = None

    def __call__(self, ev: Event) -> None:
        handle = self._HANDLERS.get(type(ev))
        if handle is not None:
            handle(self, ev)

    def print(self, line: str, err: bool = False) -> None:
        # Escaped (a corpus or folder name can hold control characters) and never failing on the encoding:
        # a progress line that cannot print must not end the training.
        stream = sys.stderr if err else self.out
        if err and stream in self.lost:
            stream = self.out  # the diagnostics' stream failed: the progress stream may still have a reader
        if stream in self.lost:
            return
        try:
            write_line(line, stream)
        except (OSError, ValueError) as e:  # ValueError: the stream was closed under us
            self._lose(stream, e)

    def _lose(self, stream: Any, error: Exception) -> None:
        self.lost.append(stream)
        silence(stream)
        name = "stderr" if stream is sys.stderr else "stdout" if stream is sys.stdout else "the output"
        why = getattr(error, "strerror", None) or str(error) or type(error).__name__
        if getattr(error, "errno", None) in READER_GONE or isinstance(error, ValueError):
            if self.on_reader_gone is not None:
                self.on_reader_gone(f"{name} went away ({why})")
        else:
            self.print(f"note: progress lines cannot be written to {name} ({why}); training goes on, and "
                       "metrics.jsonl in the run folder holds every row", err=stream is not sys.stderr)  # fmt: skip

    def _on_step(self, ev: Step) -> None:
        self.eta = ev.eta_s

    def _on_started(self, ev: Started) -> None:
        self.steps = ev.config["steps"]
        for line in started_lines(ev):
            self.print(line)

    def _on_logged(self, ev: Logged) -> None:
        if "val_loss" in ev.row:
            self.val_loss = ev.row["val_loss"]
        self.print(logged_line(ev.row, self.val_loss, self.eta, self.steps))

    def _on_threads_changed(self, ev: ThreadsChanged) -> None:
        self.print(threads_changed_line(ev))

    def _on_failed(self, ev: Failed) -> None:
        self.print(f"charrnn-tui: error: {ev.message}", err=True)

    def _on_notice(self, ev: Notice) -> None:
        self.print(f"note: {ev.message}", err=True)

    def _on_checkpoint_saved(self, ev: CheckpointSaved) -> None:
        if ev.reason in ("request", "recovered"):
            self.print(f"checkpoint saved at step {ev.step}: {ev.path}")

    # The events the printer shows, by type (the events are plain dataclasses, none a subclass of another).
    _HANDLERS: ClassVar[dict[type, Callable[[ProgressPrinter, Any], None]]] = {
        Step: _on_step,
        Started: _on_started,
        Logged: _on_logged,
        ThreadsChanged: _on_threads_changed,
        Failed: _on_failed,
        Notice: _on_notice,
        CheckpointSaved: _on_checkpoint_saved,
    }


def silence(stream: Any) -> None:
    """Point `stream`'s descriptor at /dev/null, so that what is still buffered, and the interpreter's flush at
    exit, go nowhere instead of raising again (what Python's documentation advises for SIGPIPE)."""
    try:
        fd = stream.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)
    except (AttributeError, ValueError, OSError):
        pass  # no descriptor (a StringIO) or already closed: nothing will flush to it


def budget_text(config: dict[str, Any]) -> str:
    """A run's budget as the start line says it, e.g. "500 steps or 60 s"."""
    budget = []
    if config["steps"]:
        budget.append(f"{config['steps']} steps")
    if config["max_seconds"]:
        budget.append(f"{config['max_seconds']:g} s")
    return " or ".join(budget) or "none (Ctrl+C to stop)"


def fmt_ranks(started: Started) -> str:
    """The start line's ranks under torchrun, e.g. " x2 ranks (batch 32 x 2 = 64 sequences a step)"; empty on one."""
    if started.world_size <= 1:
        return ""
    batch = started.config["batch_size"]
    return (
        f" x{started.world_size} ranks (batch {batch} x {started.world_size} = "
        f"{batch * started.world_size} sequences a step)"
    )


def started_line(ev: Started) -> str:
    """The line that opens a training: the model, the corpus, the device and the budget."""
    cfg = ev.config
    what = "resuming" if ev.resumed else "training"
    return (
        f"{what} {cfg['cell'].upper()} {cfg['n_layers']}x{cfg['hidden']} ({ev.n_params:,} parameters) "
        f"on {ev.corpus_name}: {ev.train_chars:,} train / {ev.val_chars:,} val chars, "
        f"vocabulary {ev.vocab_size}, device {ev.device}{fmt_threads(ev)}{fmt_ranks(ev)}"
        f", budget {budget_text(cfg)}"
    )


def started_lines(ev: Started) -> list[str]:
    """`started_line`, then the run folder and the step a resumed run continues from, where they apply."""
    lines = [started_line(ev)]
    if ev.run_dir:
        lines.append(f"run folder: {ev.run_dir}")
    if ev.resumed:
        lines.append(f"continuing from step {ev.step}")
    return lines


def logged_line(row: dict[str, Any], val_loss: float | None, eta: float | None, steps: int) -> str:
    """One metrics row as a progress line; `val_loss` is the latest evaluation's (None before the first), `eta`
    the latest step's estimate and `steps` the step budget (0 for none)."""
    of = f"/{steps}" if steps else ""
    parts = [f"step {row['step']:>6}{of}"]
    if "train_loss" in row:
        parts.append(f"loss {row['train_loss']:.3f}")
    parts.append(f"val {val_loss:.3f}" if val_loss is not None else "val   -  ")
    parts.append(f"{row['chars_per_s']:>9,.0f} chars/s")
    parts.append(f"elapsed {fmt_duration(row['elapsed_s'])}")
    parts.append(f"ETA {fmt_duration(eta)}")
    return "  ".join(parts)


def fmt_threads(started: Started) -> str:
    """The start line's thread count, e.g. ", 2 threads (fewer while other programs keep the cores busy)"; empty
    on a GPU."""
    if started.threads is None:
        return ""
    how = " (fewer while other programs keep the cores busy)" if started.threads_chosen else ""
    return f", {fmt_thread_count(started.threads)}{how}"


def threads_changed_line(ev: ThreadsChanged) -> str:
    """The line that says training moved to another thread count, and the timings that made it move."""
    return fmt_threads_changed(ev)


def summary(result: Finished) -> str:
    why = fmt_why_ended(result.reason, result.stalled_evals)
    val = ""
    if result.last_val_loss is not None:
        val = (
            f"val loss {result.last_val_loss:.4f} nats/char ({result.last_val_loss / LN2:.4f} bits/char), "
            f"best {result.best_val_loss:.4f}; "
        )
        if result.kept_step is not None:
            val += f"ends on the {fmt_weights(result.step, result.kept_step)}; "
    return (
        f"done ({why}) at step {result.step} after {fmt_duration(result.elapsed_s)} "
        f"({result.elapsed_s:.1f} s): {val}checkpoint {result.checkpoint}"
    )
