"""The training screen redraws at a bounded rate, and still always catches up with the run."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static
from tui_helpers import SIZE, run, scripted_run, wait_for

from charrnn_tui.config import TINY
from charrnn_tui.corpus import Corpus
from charrnn_tui.events import Sample, Step
from charrnn_tui.tui.screens.training import TrainingScreen
from charrnn_tui.tui.widgets.loss_plot import LossPlot
from charrnn_tui.tui.widgets.sample_panel import SamplePanel


def test_the_screen_catches_up_when_events_stop(make_app, hamlet: Corpus) -> None:
    # The plot and samples skip frames while events pour in; the last burst must still reach the screen
    # although no event follows it (no Finished: the run is merely slow, or paused).
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            session = app.start_training(hamlet, TINY, run_dir=Path("demo"), scripted=True)
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, TrainingScreen)
            plot, samples = screen.query_one(LossPlot), screen.query_one(SamplePanel)
            stats = screen.query_one("#stats-table", Static)
            for ev in scripted_run(hamlet, until=100):
                session.on_event(ev)
            await wait_for(pilot, lambda: plot.points == (100, 2), timeout=5, what="the first burst on the plot")
            for step in range(101, 131):  # a second burst right after a slow redraw
                session.on_event(Step(step, 2.0, 0.01, 1.0, step * 0.05, None, step / 200))
            session.on_event(Sample(130, "abc", "bcd", "bcc"))
            await wait_for(pilot, lambda: plot.points == (130, 2), timeout=5, what="the second burst on the plot")
            await wait_for(pilot, lambda: samples.content.samples[-1].step == 130, timeout=5, what="the sample")
            assert "130 / 200" in str(stats.content)

    run(main())
