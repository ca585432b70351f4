"""The training screen: the loss curve, the model's guesses and the numbers, redrawn a few times a second."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from charrnn_tui.events import CheckpointSaved, Event, Failed, Finished
from charrnn_tui.tui.session import TrainingSession
from charrnn_tui.tui.widgets.loss_plot import LossPlot
from charrnn_tui.tui.widgets.sample_panel import SamplePanel
from charrnn_tui.tui.widgets.stats_panel import StatsPanel

# Every UI cycle takes a core from training (2 cores on a laptop), so frames are few: the numbers move
# twice a second; the plot and the samples, which cost far more to render, at most once a second.
REDRAW_HZ = 2
SLOW_REDRAW_S = 1.0

HINTS = {
    "starting": "Starting... x or Esc cancels.",
    "running": "space pause · s save a checkpoint · g generate with the current weights · x stop",
    "paused": "Paused. space goes on · s save · g generate · x stop",
    "stopping": "Stopping after this step and saving...",
    "finished": "Done. g generate text with this model · Esc back to the corpus screen · q quit",
    "failed": "Training failed (see above). Esc back to the corpus screen · q quit",
}


class TrainingScreen(Screen):
    CSS_PATH = "training.tcss"
    BINDINGS = [
        Binding("space,p", "pause", "Pause/resume"),
        Binding("s", "save", "Save now"),
        Binding("g", "generate", "Generate"),
        Binding("x", "stop", "Stop"),
        Binding("escape", "back", "Stop/back"),
        Binding("q", "app.quit", "Quit", show=False),  # the footer shows ^q
    ]

    def __init__(self, session: TrainingSession) -> None:
        super().__init__()
        self.session = session
        self._drawn = -1  # the session version the numbers show
        self._drawn_slow = -1  # ... and the plot and samples
        self._slow_at = -SLOW_REDRAW_S
        self._hinted = ""
        self._error_shown = False  # the panel is hidden by the stylesheet until a run fails

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="training-top"):
            yield LossPlot(id="loss-plot")
            with VerticalScroll(id="stats-box"):
                yield StatsPanel(id="stats")
        yield Static(id="training-error", markup=False)
        with Vertical(id="samples-box"):
            yield SamplePanel(id="samples")
        yield Static(id="training-hint", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#stats-box").border_title = "run"
        self.query_one("#samples-box").border_title = "what the model predicts (input / target / its argmax guess)"
        self.query_one("#loss-plot").border_title = "loss curve"
        self.sub_title = f"training on {self.session.corpus_name}"
        self.query_one(LossPlot).follow_baseline(
            self.session.corpus or self.session.corpus_spec, self.session.config.val_fraction
        )
        self.redraw()
        self.set_interval(1 / REDRAW_HZ, self.redraw)

    def redraw(self, force: bool = False) -> None:
        """Draw the session's state if it changed since the last frame."""
        s = self.session
        now = time.monotonic()
        # 0.9: the frame timer's jitter must not push every slow redraw to the tick after next.
        slow = s.version != self._drawn_slow and now - self._slow_at >= 0.9 * SLOW_REDRAW_S
        if not (force or slow or s.version != self._drawn):
            return
        with self.app.batch_update():
            if force or slow:
                self._drawn_slow, self._slow_at = s.version, now
                train, val = s.curves()
                self.query_one(LossPlot).set_curves(train, val)
                self.query_one(SamplePanel).set_samples(list(s.samples))
            self._drawn = s.version
            self.query_one(StatsPanel).set_session(s)
            if s.status != self._hinted:
                self._hinted = s.status
                self.query_one("#training-hint", Static).update(HINTS[s.status], layout=False)
            if isinstance(s.result, Failed) and not self._error_shown:
                self._error_shown = True
                where = f"\nthe last good checkpoint: step {s.last_checkpoint.step}" if s.last_checkpoint else ""
                error = self.query_one("#training-error", Static)
                error.update(f"Training failed: {s.result.message}{where}")
                error.display = True

    def handle_event(self, ev: Event) -> None:
        """Called by the app for each event message; the drawing itself waits for the next frame."""
        if isinstance(ev, CheckpointSaved) and ev.reason == "request":
            self.notify(f"checkpoint saved at step {ev.step}")
        elif isinstance(ev, Finished):
            why = {"steps": "the step budget is reached", "time": "the time budget is spent"}.get(ev.reason, "stopped")
            self.notify(f"training finished at step {ev.step}: {why}. Press g to generate.")
            self.redraw(force=True)  # the final curve and samples now, not on the next slow frame
        elif isinstance(ev, Failed):
            self.notify(ev.message, title="training failed", severity="error", timeout=10)
            self.redraw(force=True)  # rare and important: show the error panel now

    # ---- keys -----------------------------------------------------------------------------------------
    def action_pause(self) -> None:
        self.session.toggle_pause()

    def action_save(self) -> None:
        if self.session.run_dir is None:
            self.notify("this run has no folder to save into", severity="warning")
        elif self.session.request_checkpoint():
            self.notify("saving a checkpoint after this step...")
        else:
            self.notify("training is not running; its checkpoint is already saved", severity="warning")

    def action_stop(self) -> None:
        if self.session.active:
            self.session.stop(save=True)
            self.redraw()

    def action_back(self) -> None:
        if self.session.active:
            self.action_stop()
        else:
            self.app.pop_screen()

    def action_generate(self) -> None:
        self.app.open_generation_from_session()
