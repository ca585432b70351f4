"""Numbers and runs as text, the same in every front end (the CLI's lines and the app's panels)."""

from __future__ import annotations

import math
import os
import shlex
from pathlib import Path

from charrnn_tui.core.config import TrainConfig, planned_epochs
from charrnn_tui.core.events import ThreadsChanged
from charrnn_tui.present.safetext import display_path

LN2 = math.log(2)


def fmt_duration(seconds: float | None) -> str:
    """`m:ss` or `h:mm:ss`; "?" when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def fmt_loss(value: float | None) -> str:
    """A cross-entropy in nats/char with its bits/char beside it; "-" when unknown."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.3f} ({value / LN2:.2f} bits)"


def fmt_budget(config: TrainConfig) -> str:
    """What a run's budget is, e.g. "500 steps or 180 s"."""
    parts = []
    if config.steps:
        parts.append(f"{config.steps:,} steps")
    if config.max_seconds:
        parts.append(f"{config.max_seconds:g} s")
    return " or ".join(parts) or "no limit (stop it yourself)"


def fmt_early_stop(evals: int, short: bool = False) -> str:
    """Why a run stopped early (reason "patience"): `evals` evaluations in a row without a lower validation loss.
    `short` fits a panel's row."""
    if short:  # the training screen's "run" panel at 80x24 shows 21 columns of it, beside its scrollbar
        return f"no gain in {evals} evals"
    return f"stopped early: no better validation loss in {evals} evaluation{'s' if evals != 1 else ''}"


# Why a run ended, by its Finished.reason; "patience" is fmt_early_stop's. "stopped" does not say who: the Stop key,
# Ctrl+C, SIGTERM and a closed terminal all end a run that way, and the record keeps only the reason.
STOP_REASONS = {"steps": "step budget reached", "time": "time budget reached", "stopped": "stopped before its budget"}
SHORT_STOP_REASONS = {"stopped": "stopped before budget"}  # 21 columns, the panel's row


def fmt_why_ended(reason: str, stalled_evals: int = 0, short: bool = False) -> str:
    """Why a run ended, in the words the CLI's summary and the training screen share; `short` fits a panel's
    row. An unknown reason is shown as it is."""
    if reason == "patience":
        return fmt_early_stop(stalled_evals, short)
    if short and reason in SHORT_STOP_REASONS:
        return SHORT_STOP_REASONS[reason]
    return STOP_REASONS.get(reason, reason)


def fmt_weights(step: int, kept_step: int | None, short: bool = False) -> str:
    """Which weights a run's model holds, in the words every screen and the CLI share: "weights of step 363", or
    for a run that ended on its best evaluation's weights (`kept_step`), "best weights, of step 180 (trained to
    step 363)". `short` fits a panel's row of 21 columns ("step 180 (best)")."""
    if kept_step is None or kept_step == step:
        return f"step {step:,}" if short else f"weights of step {step:,}"
    if short:
        return f"step {kept_step:,} (best)"
    return f"best weights, of step {kept_step:,} (trained to step {step:,})"


def fmt_thread_count(threads: int) -> str:
    """ "1 thread", "2 threads": an intra-op thread count, as the CLI's lines and the training screen say it."""
    return f"{threads} thread{'s' if threads != 1 else ''}"


def fmt_threads_changed(ev: ThreadsChanged) -> str:
    """The line that says training moved to another thread count, and the timings that made it move: the same
    words on the CLI's stdout and in the app's training screen."""
    why = "the cores are busy with other work" if ev.threads < ev.previous else "the cores are free again"
    timed = ", ".join(f"{s:.3f} s on {n}" for n, s in ev.step_seconds)
    return f"step {ev.step}: training on {fmt_thread_count(ev.threads)} from here on ({why}; a step took {timed})"


def fmt_epochs(epochs: float) -> str:
    """How many times a run reads its text, as `planned_epochs` gives it, in words: "about 45 epochs" (whole
    epochs from 1.5 on, one decimal down to 0.1, two significant digits below, where "0" would hide what
    matters), or "no budget" for a run with neither a step nor a time budget (infinity)."""
    if math.isinf(epochs):
        return "no budget"
    n = f"{epochs:.0f}" if epochs >= 1.5 else f"{epochs:.1f}" if epochs >= 0.1 else f"{epochs:.2g}"
    return f"about {n} epochs"


def fmt_sized(
    config: TrainConfig,
    train_chars: int,
    chars_per_s: float,
    measured: bool,
    widened: bool = False,
    windowed: bool = False,
) -> str:
    """What the default preset's sizing (config.fit_to_corpus) chose for `config`, and from what: the text's size
    and the training rate it planned with, measured on this machine or nominal (or, for the wider model the budget
    affords, `widened`, or the shorter window, `windowed`, estimated from the preset shape's rate:
    sizing.afforded_width, sizing.afforded_window). For the CLI's line before training, and the note of a run that
    re-sized."""
    epochs = planned_epochs(config, train_chars, chars_per_s)
    reads = "no budget, so as for the longest runs" if math.isinf(epochs) else f"{fmt_epochs(epochs)} in the budget"
    if measured:
        rate = "measured on this machine"
    elif widened or windowed:
        rate = f"estimated: this {'model' if widened else 'window'} not yet measured on this machine"
    else:
        rate = "nominal: not yet measured on this machine"
    model = f"{config.n_layers}x{config.hidden} LSTM, wider as the budget affords it; " if widened else ""
    window = f"windows of {config.seq_len} characters, for more steps in a short budget; " if windowed else ""
    return (
        f"sized for {train_chars:,} training characters at {chars_per_s:,.0f} chars/s ({rate}), {reads}: {model}"
        f"{window}dropout {config.dropout:g}, weight drop {config.weight_drop:g}, batch {config.batch_size}, "
        f"evaluation every {config.eval_interval} steps, Adam beta2 {config.adam_beta2:g}"
    )


def fmt_chars(n: int) -> str:
    """A corpus size: characters are the unit everywhere (a UTF-8 byte count differs for non-Latin text)."""
    return f"{n:,} chars"


def shown_path(path: str | os.PathLike[str]) -> str:
    """A run's path as a user types it: under the home directory it starts with ~ (shorter, and a shell expands
    it); a relative path stays as it is; bytes that are not valid UTF-8 show as \\xNN escapes."""
    path = Path(path).expanduser()
    if path.is_absolute():
        try:
            path = Path("~") / path.relative_to(Path.home())
        except ValueError:
            pass
    return display_path(path)


def shell_path(path: str | os.PathLike[str]) -> str:
    """`shown_path` quoted for a POSIX shell; ~ stays outside the quotes so the shell expands it."""
    shown = shown_path(path)
    if shown.startswith("~/"):
        return "~/" + shlex.quote(shown[2:])
    return shlex.quote(shown)


def generate_command(run_dir: str | os.PathLike[str]) -> str:
    """The shell command that samples from a run."""
    return f"charrnn-tui --generate-only --run-dir {shell_path(run_dir)}"


def resume_command(run_dir: str | os.PathLike[str]) -> str:
    """The shell command that continues a run."""
    return f"charrnn-tui --train-only --resume --run-dir {shell_path(run_dir)}"
