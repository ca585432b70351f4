"""What the training screen's numbers panel shows: rows of label and value, a pure function of the session's
state (tested without Textual; tui/widgets/stats_panel.py only draws them).

Each value is short: at 80x24 a value has 21 columns beside the panel's scrollbar, so a row holds one fact.
"""

from __future__ import annotations

from dataclasses import dataclass

from charrnn_tui.core.events import Finished
from charrnn_tui.present.formatting import fmt_duration, fmt_loss, fmt_thread_count, fmt_weights, fmt_why_ended
from charrnn_tui.present.safetext import one_line
from charrnn_tui.tui.state.session import TrainingSession

# The status row's words and Rich style, per TrainingSession.status.
STATUS_TEXT = {
    "starting": ("starting (loading PyTorch, building the model)...", "yellow"),
    "running": ("training", "green"),
    "paused": ("paused: press space to go on", "yellow"),
    "stopping": ("stopping after this step...", "yellow"),
    "finished": ("finished", "bold green"),
    "failed": ("failed", "bold red"),
}


@dataclass(frozen=True)
class StatRow:
    """One row of the panel: `label`, then `value` drawn in the Rich style `style` ("" plain)."""

    label: str
    value: str
    style: str = ""


def why_ended(result: Finished, short: bool = False) -> str:
    """Why a finished run ended, in the CLI's and the continue notice's words (fmt_why_ended); `short` fits the
    panel's row."""
    return fmt_why_ended(result.reason, result.stalled_evals, short)


def stats_rows(session: TrainingSession) -> list[StatRow]:
    """The panel's rows for `session` as it is now: status and progress, losses, speed and time, the model and
    its data once the run started, and where it is saved. At most 17 rows (a finished run, with why it ended and
    which step's weights it holds); fewer before the start."""
    return [
        *_progress_rows(session),
        *_loss_rows(session),
        *_time_rows(session),
        *_run_rows(session),
    ]


def _progress_rows(session: TrainingSession) -> list[StatRow]:
    label, style = STATUS_TEXT[session.status]
    rows = [StatRow("status", label, style)]
    result = session.result
    if isinstance(result, Finished):
        rows.append(StatRow("ended", why_ended(result, short=True)))
    if result is not None:  # what the run ended with, not a live-looking budget
        rows.append(StatRow("final step", f"{result.step:,}"))
        return rows
    ev, st, total = session.last_step, session.started, session.config.steps
    step = ev.step if ev else (st.step if st else 0)
    rows.append(StatRow("step", f"{step:,}" + (f" / {total:,}" if total else "")))
    return rows


def _loss_rows(session: TrainingSession) -> list[StatRow]:
    ev, result = session.last_step, session.result
    last_val, best_val = session.last_val, session.best_val
    if isinstance(result, Finished):  # the run's own final figures, where it has them
        last_val = result.last_val_loss if result.last_val_loss is not None else last_val
        best_val = result.best_val_loss if result.best_val_loss is not None else best_val
    rows = [
        StatRow("loss", fmt_loss(ev.train_loss if ev else None)),
        StatRow("val loss", fmt_loss(last_val)),
        StatRow("best val", fmt_loss(best_val)),
    ]
    if isinstance(result, Finished):
        # Which weights the run ended on, in the words of the CLI, the saved-runs list and the generation screen
        # (fmt_weights), short enough for the panel at 80x24; the end notification says it in full.
        rows.append(StatRow("weights", fmt_weights(result.step, result.kept_step, short=True)))
    return rows


def _time_rows(session: TrainingSession) -> list[StatRow]:
    ev, result = session.last_step, session.result
    rate = f"{ev.chars_per_s:,.0f}" if ev else "-"
    if ev and ev.threads is not None and session.active:  # 21 columns: "123,456 · 16 threads"
        rate += f" · {fmt_thread_count(ev.threads)}"
    elapsed = result.elapsed_s if isinstance(result, Finished) else (ev.elapsed_s if ev else None)
    rows = [StatRow("chars/s", rate), StatRow("elapsed", fmt_duration(elapsed) if elapsed is not None else "-")]
    if session.active:
        rows.append(StatRow("ETA", fmt_duration(ev.eta_s) if ev and ev.eta_s is not None else "-"))
    return rows


def _run_rows(session: TrainingSession) -> list[StatRow]:
    rows = []
    st = session.started
    if st:
        cfg = st.config
        rows += [
            StatRow("model", f"{cfg['cell'].upper()} {cfg['n_layers']}x{cfg['hidden']}"),
            StatRow("params", f"{st.n_params:,}"),
            StatRow("device", st.device + (f" x{st.world_size}" if st.world_size > 1 else "")),
            StatRow("corpus", one_line(st.corpus_name)),
            StatRow("train/val", f"{st.train_chars:,} / {st.val_chars:,}"),  # characters, as on the corpus screen
            StatRow("vocab", f"{st.vocab_size} characters"),
        ]
    if session.run_dir is not None:
        rows.append(StatRow("run", one_line(session.run_dir.name)))  # the name only: no absolute paths on screen
    ck = session.last_checkpoint
    rows.append(StatRow("saved", f"step {ck.step} ({ck.reason})" if ck else "-"))
    return rows
