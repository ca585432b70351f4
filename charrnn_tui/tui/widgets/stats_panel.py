"""The training numbers: step, losses, speed, time, and what is being trained where."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from charrnn_tui.core.events import Finished
from charrnn_tui.present.formatting import fmt_duration, fmt_loss, fmt_thread_count, fmt_why_ended
from charrnn_tui.present.safetext import one_line
from charrnn_tui.tui.state.session import TrainingSession


def why_ended(result: Finished, short: bool = False) -> str:
    """Why a finished run ended, in the CLI's words; `short` fits the panel's row. Here only the user stops a
    run, so the screen says so."""
    if result.reason == "stopped":
        return "stopped by you"
    return fmt_why_ended(result.reason, result.stalled_evals, short)


STATUS_TEXT = {
    "starting": ("starting (loading PyTorch, building the model)...", "yellow"),
    "running": ("training", "green"),
    "paused": ("paused: press space to go on", "yellow"),
    "stopping": ("stopping after this step...", "yellow"),
    "finished": ("finished", "bold green"),
    "failed": ("failed", "bold red"),
}


class StatsPanel(Vertical):
    DEFAULT_CSS = """
    StatsPanel { height: auto; }
    /* 17: every row it can have (a finished run that kept its best weights), so updates skip the layout */
    StatsPanel > Static { height: 17; text-wrap: nowrap; text-overflow: ellipsis; }
    StatsPanel > ProgressBar { margin-top: 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="stats-table")
        yield ProgressBar(total=1.0, show_eta=False, id="stats-progress")

    def set_session(self, session: TrainingSession) -> None:
        ev, st, result = session.last_step, session.started, session.result
        rows: list[tuple[str, str | Text]] = []
        label, style = STATUS_TEXT[session.status]
        rows.append(("status", Text(label, style=style)))
        if isinstance(result, Finished):
            rows.append(("ended", why_ended(result, short=True)))
        total = session.config.steps
        step = ev.step if ev else (st.step if st else 0)
        if result is not None:  # what the run ended with, not a live-looking budget
            rows.append(("final step", f"{result.step:,}"))
        else:
            rows.append(("step", f"{step:,}" + (f" / {total:,}" if total else "")))
        rows.append(("loss", fmt_loss(ev.train_loss if ev else None)))
        last_val, best_val = session.last_val, session.best_val
        if isinstance(result, Finished):
            last_val = result.last_val_loss if result.last_val_loss is not None else last_val
            best_val = result.best_val_loss if result.best_val_loss is not None else best_val
        rows.append(("val loss", fmt_loss(last_val)))
        rows.append(("best val", fmt_loss(best_val)))
        if isinstance(result, Finished) and result.kept_step is not None:
            # short enough for the panel at 80x24 (21 columns); the end notification says it in full
            rows.append(("weights", f"of step {result.kept_step:,} (best)"))
        rate = f"{ev.chars_per_s:,.0f}" if ev else "-"
        if ev and ev.threads is not None and session.active:  # 21 columns: "123,456 · 16 threads"
            rate += f" · {fmt_thread_count(ev.threads)}"
        rows.append(("chars/s", rate))
        elapsed = result.elapsed_s if isinstance(result, Finished) else (ev.elapsed_s if ev else None)
        rows.append(("elapsed", fmt_duration(elapsed) if elapsed is not None else "-"))
        if session.active:
            rows.append(("ETA", fmt_duration(ev.eta_s) if ev and ev.eta_s is not None else "-"))
        if st:
            cfg = st.config
            # One fact a row, each short: at 80x24 a value has 21 columns beside the panel's scrollbar.
            rows.append(("model", f"{cfg['cell'].upper()} {cfg['n_layers']}x{cfg['hidden']}"))
            rows.append(("params", f"{st.n_params:,}"))
            rows.append(("device", st.device + (f" x{st.world_size}" if st.world_size > 1 else "")))
            rows.append(("corpus", one_line(st.corpus_name)))
            rows.append(("train/val", f"{st.train_chars:,} / {st.val_chars:,}"))  # characters, as on the corpus screen
            rows.append(("vocab", f"{st.vocab_size} characters"))
        if session.run_dir is not None:
            rows.append(("run", one_line(session.run_dir.name)))  # the name only: no absolute paths on screen
        ck = session.last_checkpoint
        rows.append(("saved", f"step {ck.step} ({ck.reason})" if ck else "-"))
        # Plain text in two columns rather than a rich Table: the panel redraws twice a second, and a
        # Table measures every cell each time.
        width = max(len(name) for name, _ in rows) + 1
        table = Text(no_wrap=True, overflow="ellipsis")
        for i, (name, value) in enumerate(rows):
            if i:
                table.append("\n")
            table.append(name.ljust(width), style="dim")
            table.append(value)
        self.query_one("#stats-table", Static).update(table, layout=False)
        bar = self.query_one("#stats-progress", ProgressBar)
        if bar.display != session.active:
            bar.display = session.active  # after the end, no bar: a run stopped at 97% is not "97% done"
        if session.active and ev is not None and ev.progress is not None:
            bar.update(total=1.0, progress=ev.progress)
