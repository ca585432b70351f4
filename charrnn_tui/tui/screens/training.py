"""The training screen: the loss curve, the model's guesses and the numbers, redrawn a few times a second."""

from __future__ import annotations

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

REDRAW_HZ = 2  # the plot builds on the UI thread, and every UI cycle takes a core from training

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
        self._drawn = -1

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
        self.redraw()
        self.set_interval(1 / REDRAW_HZ, self.redraw)

    def redraw(self, force: bool = False) -> None:
        """Draw the session's state if it changed since the last frame."""
        s = self.session
        if s.version == self._drawn and not force:
            return
        self._drawn = s.version
        train, val = s.curves()
        with self.app.batch_update():
            self.query_one(LossPlot).set_curves(train, val)
            self.query_one(SamplePanel).set_samples(list(s.samples))
            self.query_one(StatsPanel).set_session(s)
            self.query_one("#training-hint", Static).update(HINTS[s.status], layout=False)
            error = self.query_one("#training-error", Static)
            if isinstance(s.result, Failed):
                where = f"\nthe last good checkpoint: step {s.last_checkpoint.step}" if s.last_checkpoint else ""
                error.update(f"Training failed: {s.result.message}{where}")
                error.display = True
            else:
                error.display = False

    def handle_event(self, ev: Event) -> None:
        """Called by the app for each event message; the drawing itself waits for the next frame."""
        if isinstance(ev, CheckpointSaved) and ev.reason == "request":
            self.notify(f"checkpoint saved at step {ev.step}")
        elif isinstance(ev, Finished):
            why = {"steps": "the step budget is reached", "time": "the time budget is spent"}.get(ev.reason, "stopped")
            self.notify(f"training finished at step {ev.step}: {why}. Press g to generate.")
        elif isinstance(ev, Failed):
            self.notify(ev.message, title="training failed", severity="error", timeout=10)
            self.redraw()  # rare and important: show the error panel now, not on the next frame

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
