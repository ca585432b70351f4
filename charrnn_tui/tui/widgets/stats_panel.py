"""The training numbers: step, losses, speed, time, and what is being trained where."""

from __future__ import annotations

import math

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from charrnn_tui.headless import fmt_duration
from charrnn_tui.tui.session import TrainingSession

STATUS_TEXT = {
    "starting": ("starting (loading PyTorch, building the model)...", "yellow"),
    "running": ("training", "green"),
    "paused": ("paused: press space to go on", "yellow"),
    "stopping": ("stopping after this step...", "yellow"),
    "finished": ("finished", "bold green"),
    "failed": ("failed", "bold red"),
}


def fmt_loss(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.3f} ({value / math.log(2):.2f} bits)"


class StatsPanel(Vertical):
    DEFAULT_CSS = """
    StatsPanel { height: auto; }
    StatsPanel > Static { height: 14; }  /* every row it can have: updates then skip the layout */
    StatsPanel > ProgressBar { margin-top: 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="stats-table")
        yield ProgressBar(total=1.0, show_eta=False, id="stats-progress")

    def set_session(self, session: TrainingSession) -> None:
        ev, st = session.last_step, session.started
        table = Table.grid(padding=(0, 1))
        table.add_column(style="dim", no_wrap=True)
        table.add_column(no_wrap=True)
        label, style = STATUS_TEXT[session.status]
        table.add_row("status", Text(label, style=style))
        total = session.config.steps
        step = ev.step if ev else (st.step if st else 0)
        table.add_row("step", f"{step:,}" + (f" / {total:,}" if total else ""))
        table.add_row("loss", fmt_loss(ev.train_loss if ev else None))
        table.add_row("val loss", fmt_loss(session.last_val))
        table.add_row("best val", fmt_loss(session.best_val))
        table.add_row("chars/s", f"{ev.chars_per_s:,.0f}" if ev else "-")
        table.add_row("elapsed", fmt_duration(ev.elapsed_s) if ev else "-")
        table.add_row("ETA", fmt_duration(ev.eta_s) if ev and ev.eta_s is not None else "-")
        if st:
            cfg = st.config
            table.add_row("model", f"{cfg['cell'].upper()} {cfg['n_layers']}x{cfg['hidden']}, {st.n_params:,} params")
            table.add_row("device", st.device + (f" x{st.world_size}" if st.world_size > 1 else ""))
            table.add_row("corpus", f"{st.corpus_name}: {st.train_chars:,} train / {st.val_chars:,} val chars")
            table.add_row("vocab", f"{st.vocab_size} characters")
        if session.run_dir is not None:
            table.add_row("run", session.run_dir.name)  # the name only: no absolute paths on screen
        ck = session.last_checkpoint
        table.add_row("saved", f"step {ck.step} ({ck.reason})" if ck else "-")
        self.query_one("#stats-table", Static).update(table, layout=False)
        bar = self.query_one("#stats-progress", ProgressBar)
        if ev is not None and ev.progress is not None:
            bar.update(total=1.0, progress=ev.progress)
        elif session.status == "finished":
            bar.update(total=1.0, progress=1.0)
