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

from charrnn_tui.core.events import CheckpointSaved, Event, Failed, Finished, Notice, ThreadsChanged
from charrnn_tui.present.formatting import (
    fmt_threads_changed,
    fmt_weights,
    generate_command,
    resume_command,
    shown_path,
)
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


# A run whose first minute goes at under half the planned rate says so (issue 26: 427 chars/s for 35 s, unsaid).
SLOW_START_S = 60.0
SLOW_START_SHARE = 0.5

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
        # A command too wide for the screen is cut, never wrapped: these copy it whole (shown once it exists).
        Binding("c", "copy_resume", "Copy train-on"),
        Binding("y", "copy_generate", "Copy generate"),
        Binding("escape", "back", "Back"),
        Binding("q", "app.quit", "Quit", show=False),  # the footer shows ^q
    ]
    # The keys that only mean something while the run is live; after its end the footer leaves them out.
    LIVE_ONLY = frozenset({"pause", "save", "stop"})
    COPY_KEYS = frozenset({"copy_resume", "copy_generate"})

    def __init__(self, session: TrainingSession) -> None:
        super().__init__()
        self.session = session
        self._drawn = -1  # the session version the numbers show
        self._drawn_slow = -1  # ... and the plot and samples
        self._slow_at = -SLOW_REDRAW_S
        self._hinted = ""
        self._error_shown = False
        self._overfit_shown: Overfit | None = None  # the panel is hidden by the stylesheet until a run fails
        self._note = ""  # the trainer's last word (a Notice, a thread change), on the screen until the next one
        self._slow = ""  # "starting: 427 chars/s so far, ..." while the first minute goes far under the plan
        self._plan_rate: float | None = None  # the chars/s the run was planned with, if it was
        self._first_elapsed: float | None = None  # the elapsed seconds of the first step this screen saw

    def compose(self) -> ComposeResult:
        yield Header()
        with TrainingColumns(id="training-top"):
            yield LossPlot(id="loss-plot")
            with VerticalScroll(id="stats-box"):
                yield StatsPanel(id="stats")
        yield Static(id="training-error", markup=False)
        yield Static(id="training-warning", markup=False)
        yield Static(id="training-note", markup=False)
        yield Static(id="training-result", markup=False)
        yield Static(id="training-end", markup=False)
        with Vertical(id="samples-box"):
            yield SamplePanel(id="samples")
        yield Static(id="training-hint", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#stats-box").border_title = "run"
        self.query_one("#samples-box").border_title = "what the model predicts (input / target / its argmax guess)"
        self.query_one("#loss-plot").border_title = "loss (nats/char) by step"
        self._plan_rate = planned_rate(self.session)
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
                self.set_class(not s.active, "ended")  # the samples give their rows to the result first
                self.query_one("#training-hint", Static).update(HINTS[s.status], layout=False)
                self.refresh_bindings()  # the footer offers only the keys that work now
                self._show_end()
            self._show_overfitting()
            self._show_slow_start()
            if isinstance(s.result, Failed) and not self._error_shown:
                self._error_shown = True
                where = f"\nthe last good checkpoint: step {s.last_checkpoint.step}" if s.last_checkpoint else ""
                error = self.query_one("#training-error", Static)
                error.update(escape(f"Training failed: {s.result.message}{where}"))
                error.display = True

    def _show_end(self) -> None:
        """After the run's end: how it ended, where it is on disk and the shell commands that use it, one line
        each (a command too wide is cut, never wrapped: c and y copy it whole)."""
        s, end = self.session, self.query_one("#training-end", Static)
        result = self.query_one("#training-result", Static)
        result.display = isinstance(s.result, Finished)
        if isinstance(s.result, Finished):
            result.update(Text(ended_line(s.result), style="bold"))
        if s.active or s.run_dir is None or not self._saved():
            end.display = False
            return
        rows: list[Text] = []
        rows.append(Text.assemble(("run folder  ", "dim"), shown_path(s.run_dir)))
        rows.append(Text.assemble(("y generate  ", "dim"), generate_command(s.run_dir)))
        rows.append(Text.assemble(("c train on  ", "dim"), resume_command(s.run_dir)))
        end.update(Text("\n", no_wrap=True, overflow="ellipsis").join(rows))
        end.display = True

    def _saved(self) -> bool:
        """Whether the run has a checkpoint on disk that the shown commands can use."""
        s = self.session
        return s.last_checkpoint is not None or isinstance(s.result, Finished) and bool(s.result.checkpoint)

    def _show_note(self) -> None:
        note = self.query_one("#training-note", Static)
        lines = [line for line in (self._slow, self._note) if line]
        note.update("\n".join(lines))
        note.display = bool(lines)

    def _show_slow_start(self) -> None:
        """While the first minute trains at under half the planned rate, say so: a busy machine, not a hang."""
        s, ev = self.session, self.session.last_step
        slow = ""
        if ev is not None and s.status == "running" and self._plan_rate:
            if self._first_elapsed is None:
                self._first_elapsed = ev.elapsed_s
            early = ev.elapsed_s - self._first_elapsed < SLOW_START_S
            if early and ev.chars_per_s < SLOW_START_SHARE * self._plan_rate:
                slow = slow_start_line(ev.chars_per_s)
        if slow != self._slow:
            self._slow = slow
            self._show_note()

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
            "this run ends on its best weights (keep_best), and b generates with them."
            if s.config.keep_best
            else "keep_best (--keep-best) would end on the best weights."
        )
        # Three lines at 80 columns at most: the finished screen keeps its curve and commands above the samples.
        warning.update(
            f"Overfitting: val loss {seen.last_loss:.3f} vs best {seen.best_loss:.3f} (step {seen.best_step:,}): "
            f"try a smaller model, more dropout or more text; {ending}"
        )
        warning.display = True
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.LIVE_ONLY and not self.session.active:
            return False  # hidden from the footer, and the key does nothing
        if action in self.COPY_KEYS:  # with the commands they copy, shown after the end
            return not self.session.active and self.session.run_dir is not None and self._saved()
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
        elif isinstance(ev, Finished):  # said on the screen (#training-end): a toast would cover the hint
            self.redraw(force=True)  # the final curve and samples now, not on the next slow frame
        elif isinstance(ev, Notice | ThreadsChanged):
            # What the trainer wants the user to know (a resumed run past its best, fewer threads on a busy
            # machine): a line in the layout, not a toast over the overfitting advice, until the next one.
            self._note = escape(ev.message) if isinstance(ev, Notice) else fmt_threads_changed(ev)
            self._show_note()
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

    def action_copy_resume(self) -> None:
        self._copy(resume_command, "the command that trains this run on")

    def action_copy_generate(self) -> None:
        self._copy(generate_command, "the command that generates from this run")

    def _copy(self, command, what: str) -> None:
        if self.session.run_dir is None:
            return
        self.app.copy_to_clipboard(command(self.session.run_dir))
        self.notify(f"copied {what}")

    def action_generate(self) -> None:
        self.post_message(self.GenerateRequested(self.session))

    def action_generate_best(self) -> None:
        self.post_message(self.GenerateRequested(self.session, best=True))


def ended_line(result: Finished) -> str:
    """How a run ended, in one line: "finished at step 150: time budget reached; best weights, of step 100"."""
    kept = f"; {fmt_weights(result.step, result.kept_step)}" if result.kept_step is not None else ""
    return f"finished at step {result.step:,}: {why_ended(result)}{kept}."  # the hint under it says what g does


def slow_start_line(chars_per_s: float) -> str:
    """The word for a run whose first minute goes far under its planned rate."""
    return f"starting: {chars_per_s:,.0f} chars/s so far, the machine looks busy"


def planned_rate(session: TrainingSession) -> float | None:
    """The chars/s the run was planned with: its sizing's, else this machine's measured rate for the shape (a
    continued run); None when there is no plan to fall short of."""
    if session.sizing is not None:
        return session.sizing.chars_per_s
    from charrnn_tui.training.rates import read_rate

    try:
        return read_rate(session.config) if session.config.device in ("cpu", "auto") else None
    except (OSError, ValueError):
        return None
