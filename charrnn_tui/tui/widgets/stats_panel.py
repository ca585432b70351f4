"""The training numbers: step, losses, speed, time, and what is being trained where. What the rows say is
tui/state/stats.py's (a pure function of the session); this widget draws them and the progress bar."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from charrnn_tui.tui.state.session import TrainingSession
from charrnn_tui.tui.state.stats import StatRow, stats_rows


def rows_text(rows: list[StatRow]) -> Text:
    """The rows in two columns, labels dim and padded to the widest. Plain text rather than a rich Table: the
    panel redraws twice a second, and a Table measures every cell each time."""
    width = max(len(row.label) for row in rows) + 1
    table = Text(no_wrap=True, overflow="ellipsis")
    for i, row in enumerate(rows):
        if i:
            table.append("\n")
        table.append(row.label.ljust(width), style="dim")
        table.append(row.value, style=row.style or None)
    return table


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
        """Draw `session` as it is now (call from the UI thread)."""
        self.query_one("#stats-table", Static).update(rows_text(stats_rows(session)), layout=False)
        bar = self.query_one("#stats-progress", ProgressBar)
        if bar.display != session.active:
            bar.display = session.active  # after the end, no bar: a run stopped at 97% is not "97% done"
        ev = session.last_step
        if session.active and ev is not None and ev.progress is not None:
            bar.update(total=1.0, progress=ev.progress)
