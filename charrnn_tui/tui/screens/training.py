"""The training screen: the loss curve, the model's guesses and the numbers, redrawn a few times a second."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from charrnn_tui.core.events import CheckpointSaved, Event, Failed, Finished, Notice
from charrnn_tui.present.formatting import generate_command, resume_command, shown_path
from charrnn_tui.present.safetext import escape, one_line
from charrnn_tui.tui.screens.quit import QuitScreen
from charrnn_tui.tui.state.overfitting import Overfit, overfitting
from charrnn_tui.tui.state.session import TrainingSession
from charrnn_tui.tui.state.stats import why_ended
from charrnn_tui.tui.widgets.loss_plot import LossPlot
from charrnn_tui.tui.widgets.sample_panel import SamplePanel
from charrnn_tui.tui.widgets.stats_panel import StatsPanel

# Every UI cycle takes a core from training (2 cores on a laptop), so frames are few: the numbers move
# twice a second; the plot and the samples, which cost far more to render, at most once a second.
REDRAW_HZ = 2
SLOW_REDRAW_S = 1.0

# Esc never ends a run: it goes back to the corpus screen and training goes on (Ctrl+T comes back).
HINTS = {
    "starting": "Starting... x cancels · Esc back (the run goes on)",
    "running": "space pause · s save · g generate · x stop · Esc back (training goes on)",
    "paused": "Paused. space goes on · s save · g generate · x stop · Esc back",
    "stopping": "Stopping after this step...",
    "finished": "Done. g generates with this model · Esc back to the corpus screen · q quits",
    "failed": "Training failed (see above). Esc back to the corpus screen · q quits",
}


SQUEEZED_WIDTH = 76  # below this (e.g. 80 columns with the keys panel open) plot and numbers share evenly


class TrainingColumns(Horizontal):
    """The plot and the numbers; their own width (a docked keys panel takes some) picks the split."""

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < SQUEEZED_WIDTH, "squeezed")


class TrainingScreen(Screen):
    @dataclass
    class GenerateRequested(Message):
        """Open generation on a copy of the session's current weights."""

        session: TrainingSession
        best: bool = False  # the best evaluation's weights (keep_best) rather than the current ones

    CSS_PATH = "training.tcss"
    BINDINGS = [
        Binding("space,p", "pause", "Pause"),
        Binding("s", "save", "Save"),
        Binding("g", "generate", "Generate"),
        Binding("b", "generate_best", "Best weights"),  # shown only while the run overfits
        Binding("x", "stop", "Stop..."),
        Binding("escape", "back", "Back"),
        Binding("q", "app.quit", "Quit", show=False),  # the footer shows ^q
    ]
    # The keys that only mean something while the run is live; after its end the footer leaves them out.
    LIVE_ONLY = frozenset({"pause", "save", "stop"})

    def __init__(self, session: TrainingSession) -> None:
        super().__init__()
        self.session = session
        self._drawn = -1  # the session version the numbers show
        self._drawn_slow = -1  # ... and the plot and samples
        self._slow_at = -SLOW_REDRAW_S
        self._hinted = ""
        self._error_shown = False
        self._overfit_shown: Overfit | None = None  # the panel is hidden by the stylesheet until a run fails

    def compose(self) -> ComposeResult:
        yield Header()
        with TrainingColumns(id="training-top"):
            yield LossPlot(id="loss-plot")
            with VerticalScroll(id="stats-box"):
                yield StatsPanel(id="stats")
        yield Static(id="training-error", markup=False)
        yield Static(id="training-warning", markup=False)
        yield Static(id="training-end", markup=False)
        with Vertical(id="samples-box"):
            yield SamplePanel(id="samples")
        yield Static(id="training-hint", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#stats-box").border_title = "run"
        self.query_one("#samples-box").border_title = "what the model predicts (input / target / its argmax guess)"
        self.query_one("#loss-plot").border_title = "loss curve"
        self.sub_title = f"training on {one_line(self.session.corpus_name)}"
        self.query_one(LossPlot).follow_baseline(
            self.session.corpus or self.session.corpus_spec, self.session.config.val_fraction, self.app.baselines
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
                self.refresh_bindings()  # the footer offers only the keys that work now
                self._show_end()
            self._show_overfitting()
            if isinstance(s.result, Failed) and not self._error_shown:
                self._error_shown = True
                where = f"\nthe last good checkpoint: step {s.last_checkpoint.step}" if s.last_checkpoint else ""
                error = self.query_one("#training-error", Static)
                error.update(escape(f"Training failed: {s.result.message}{where}"))
                error.display = True

    def _show_end(self) -> None:
        """After the run's end: where it is on disk and the shell commands that use it."""
        s, end = self.session, self.query_one("#training-end", Static)
        if s.active or s.run_dir is None:
            end.display = False
            return
        saved = s.last_checkpoint is not None or isinstance(s.result, Finished) and s.result.checkpoint
        if not saved:
            end.display = False
            return
        end.update(
            Text.assemble(
                ("run folder  ", "dim"),
                shown_path(s.run_dir),
                "\n",
                ("generate    ", "dim"),
                generate_command(s.run_dir),
                "\n",
                ("train on    ", "dim"),
                resume_command(s.run_dir),
            )  # fmt: skip
        )
        end.display = True

    def _show_overfitting(self) -> None:
        s, warning = self.session, self.query_one("#training-warning", Static)
        seen = overfitting(s.val_points)
        if seen == self._overfit_shown:
            return
        self._overfit_shown = seen
        if seen is None:
            warning.display = False
            self.refresh_bindings()
            return
        ending = (
            "This run ends on its best weights (keep_best); b generates with them now."
            if s.config.keep_best
            else "keep_best (--keep-best) would end it on the best weights."
        )
        warning.update(
            f"Overfitting: the validation loss is {seen.last_loss:.3f}, well above its best {seen.best_loss:.3f} "
            f"(step {seen.best_step:,}). What helps: a smaller model, more dropout, more text. {ending}"
        )
        warning.display = True
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.LIVE_ONLY and not self.session.active:
            return False  # hidden from the footer, and the key does nothing
        if action == "generate_best":
            return self._overfit_shown is not None and self.session.config.keep_best
        if action == "generate":
            if self.session.status == "failed":
                return False  # a diverged model has nothing to say
            if self.session.started is None:
                return None  # shown, greyed: there is no model yet
        return True

    def handle_event(self, ev: Event) -> None:
        """Called by the app for each event message; the drawing itself waits for the next frame."""
        if isinstance(ev, CheckpointSaved) and ev.reason == "request":
            self.notify(f"checkpoint saved at step {ev.step}")
        elif isinstance(ev, Finished):
            kept = f"; it ends on the best weights, of step {ev.kept_step:,}" if ev.kept_step is not None else ""
            self.notify(f"training finished at step {ev.step:,}: {why_ended(ev)}{kept}. Press g to generate.")
            self.redraw(force=True)  # the final curve and samples now, not on the next slow frame
        elif isinstance(ev, Notice):  # what the trainer wants the user to know (a resumed run past its best, ...)
            self.notify(escape(ev.message), title="note", severity="warning", timeout=12, markup=False)
        elif isinstance(ev, Failed):
            self.notify(escape(ev.message), title="training failed", severity="error", timeout=10, markup=False)
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
        """Ask first: stop and save, stop without saving, or keep training."""
        if self.session.active and self.session.status != "stopping":
            self.app.push_screen(QuitScreen(self.session, action="stop"), self._stop_chosen)

    def _stop_chosen(self, choice: str | None) -> None:
        if choice in ("save", "discard") and self.session.active:
            self.session.stop(save=choice == "save")
            self.redraw()

    def action_back(self) -> None:
        # Never stops the run: the corpus screen says it is training and Ctrl+T comes back here.
        self.app.pop_screen()

    def action_generate(self) -> None:
        self.post_message(self.GenerateRequested(self.session))

    def action_generate_best(self) -> None:
        self.post_message(self.GenerateRequested(self.session, best=True))
