"""Runs side by side: the validation curves of the marked saved runs on one plot, against steps or seconds,
each labelled with its preset, model and best validation loss, to choose settings by looking."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static
from textual_plotext import PlotextPlot

from charrnn_tui.core.config import preset_name
from charrnn_tui.present.safetext import one_line
from charrnn_tui.runs.listing import RunSummary
from charrnn_tui.runs.metrics_log import MetricsLog
from charrnn_tui.tui.widgets.loss_plot import step_ticks

# plotext's colour names, and rich's for the same colour in the legend.
COLORS = (("cyan", "cyan"), ("orange", "dark_orange"), ("green", "green"), ("magenta", "magenta"),
          ("yellow", "yellow"), ("red", "red"), ("blue", "blue"), ("white", "white"))  # fmt: skip


@dataclass(frozen=True)
class Curve:
    label: str
    steps: list[int]
    seconds: list[float]
    losses: list[float]  # validation, nats/char
    corpus: str = "?"  # the corpus as the list shows it
    scored_on: tuple[str, float] | None = None  # (the corpus's identity, its validation fraction): the text scored


def curve_of(run: RunSummary) -> Curve:
    """A run's validation curve from its metrics.jsonl (unreadable rows skipped), labelled for the legend."""
    rows = [r for r in MetricsLog(run.path).read().rows if "val_loss" in r]
    losses = [r["val_loss"] for r in rows]
    model = f"{run.config.cell} {run.config.n_layers}x{run.config.hidden}" if run.config else "?"
    preset = preset_name(run.config) if run.config else "?"
    best = f"best {min(losses):.3f}" if losses else "no evaluation"
    record, config = run.corpus, run.config
    scored_on = (record.sha256 or record.spec, config.val_fraction) if record and config else None
    return Curve(
        f"{run.name} ({preset}, {model}, {best})",
        [r["step"] for r in rows],
        [float(r.get("elapsed_s", 0.0)) for r in rows],
        losses,
        corpus=record.shown if record else "?",
        scored_on=scored_on,
    )


def mixed_texts(curves: list[Curve]) -> str:
    """A warning when the curves were scored on different validation texts (other corpora, or other splits of
    one), whose losses do not compare; "" when they share one (or it is not known)."""
    known = [c for c in curves if c.scored_on is not None]
    if len({c.scored_on for c in known}) < 2:
        return ""
    names = sorted({c.corpus for c in known})
    if len(names) > 1:
        what = "different corpora (" + ", ".join(one_line(n) for n in names) + ")"
    else:
        fractions = sorted({c.scored_on[1] for c in known})
        what = "different validation splits (" + ", ".join(f"{100 * f:g}%" for f in fractions) + ")"
    return f"Note: these runs were scored on {what}: each curve is its own text's loss, so heights do not compare."


class CompareScreen(Screen):
    BINDINGS = [
        Binding("t", "toggle_axis", "Steps/seconds"),
        Binding("escape", "app.pop_screen", "Back"),
    ]
    DEFAULT_CSS = """
    CompareScreen PlotextPlot { height: 1fr; min-height: 10; border: round $primary; }
    #compare-legend { height: auto; max-height: 9; padding: 0 1; }
    #compare-note { height: auto; padding: 0 1; color: $warning; display: none; }
    """

    @dataclass
    class CurvesRead(Message):
        """The worker read the runs' metrics: one Curve each, in the order of the runs."""

        curves: list[Curve]

    def __init__(self, runs: list[RunSummary]) -> None:
        super().__init__()
        self.runs = runs
        self.curves: list[Curve] = []
        self.by_seconds = False
        self.xticks: list[int] = []  # the x ticks last drawn, for tests

    def compose(self) -> ComposeResult:
        yield Header()
        yield PlotextPlot(id="compare-plot")
        yield Static(id="compare-note", markup=False)
        yield Static("reading the runs' metrics...", id="compare-legend", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{len(self.runs)} runs side by side"
        self.query_one("#compare-plot").border_title = "validation loss (nats per character)"
        self._read()

    @work(thread=True, exit_on_error=False)
    def _read(self) -> None:
        # metrics.jsonl of a long run is large enough to read off the UI thread.
        self.post_message(self.CurvesRead([curve_of(r) for r in self.runs]))

    def on_compare_screen_curves_read(self, message: CurvesRead) -> None:
        self.curves = message.curves
        legend = Text()
        for i, c in enumerate(self.curves):
            legend.append("\n" if i else "")
            legend.append("● ", style=COLORS[i % len(COLORS)][1])
            legend.append(one_line(c.label))  # run names come from the disk: untrusted
        self.query_one("#compare-legend", Static).update(legend)
        note, warning = self.query_one("#compare-note", Static), mixed_texts(self.curves)
        note.update(warning)
        note.display = bool(warning)
        self.draw()

    def action_toggle_axis(self) -> None:
        self.by_seconds = not self.by_seconds
        self.draw()

    def draw(self) -> None:
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xlabel("seconds of training" if self.by_seconds else "step")
        losses = [v for c in self.curves for v in c.losses]
        last = 0
        for i, c in enumerate(self.curves):
            if c.losses:
                xs = c.seconds if self.by_seconds else c.steps
                plt.plot(xs, c.losses, color=COLORS[i % len(COLORS)][0], marker="braille")
                last = max(last, math.ceil(max(xs)))
        # Whole steps (and whole seconds) on the x axis: plotext's own ticks fall between them ("154.5").
        self.xticks = step_ticks(last)
        plt.xticks(self.xticks, [f"{t:,}" for t in self.xticks])
        if losses:  # evenly spaced ticks: plotext's own skip values on short plots
            lo, hi = min(losses), max(losses)
            ticks = [lo + (hi - lo) * k / 4 for k in range(5)] if hi > lo else [lo]
            plt.yticks(ticks, [f"{t:.2f}" for t in ticks])
        plot.refresh()
