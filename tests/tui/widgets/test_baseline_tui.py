"""The n-gram baseline in the app: on the corpus screen when a corpus is chosen, and as a labelled line on
the loss curve; and the loss curve's y ticks, evenly spaced at every height (issue 13)."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from tui_helpers import run, scripted_run, wait_for

from charrnn_tui.core.config import TINY
from charrnn_tui.scoring.baseline import Cancelled, corpus_baseline
from charrnn_tui.text.corpus import Corpus
from charrnn_tui.tui.screens.corpus import CorpusScreen
from charrnn_tui.tui.screens.training import TrainingScreen
from charrnn_tui.tui.state.baselines import BaselineCache
from charrnn_tui.tui.widgets.baseline_line import BaselineLine, progress_line
from charrnn_tui.tui.widgets.loss_plot import LossPlot, tick_labels, value_ticks


def test_corpus_screen_shows_the_baseline_then_the_plot_draws_it(make_app, hamlet: Corpus) -> None:
    async def main() -> None:
        app = make_app()
        # 120x36: at 80x24 the training screen's plot is too narrow for plotext's legend (issue 13's layout).
        async with app.run_test(size=(120, 36)) as pilot:
            screen = app.screen
            assert isinstance(screen, CorpusScreen)
            line = screen.query_one(BaselineLine)
            await wait_for(pilot, lambda: line.result is not None, what="the baseline of Hamlet")
            result = line.result
            val_fraction = screen.config().val_fraction
            assert (result.best_order, round(result.best_loss, 4)) == (5, 1.5786)  # docs/quality.md's figure
            assert "5-gram Kneser-Ney: 1.579 nats/char" in str(line.render())
            # The training screen's plot finds it in the shared cache: the line is there on the first frame.
            session = app.start_training(hamlet, TINY, run_dir=Path("x"), scripted=True)
            await pilot.pause()
            assert isinstance(app.screen, TrainingScreen)
            for ev in scripted_run(hamlet):
                session.on_event(ev)
            app.screen.redraw(force=True)
            await pilot.pause()
            plot = app.screen.query_one(LossPlot)
            assert plot.baseline == (result.best_loss, "5-gram baseline 1.579")
            assert "5-gram baseline 1.579" in plot.legend().plain  # the legend is in the border now
            # The cache is the app's, not the process's: another app has computed nothing yet.
            assert app.baselines.get(hamlet, val_fraction) is result
            assert make_app().baselines.get(hamlet, val_fraction) is None

    run(main())


def test_a_file_corpus_over_the_cap_says_so(make_app, tmp_path: Path, monkeypatch) -> None:
    """A corpus bigger than the baseline's caps: the line appears, and says it used a capped sample."""
    import charrnn_tui.scoring.baseline as baseline

    path = tmp_path / "big.txt"
    path.write_text("the cat sat on the mat. " * 400, encoding="utf-8")

    monkeypatch.setattr(baseline, "MAX_TRAIN_CHARS", 2000)
    monkeypatch.setattr(baseline, "MAX_VAL_CHARS", 300)

    async def main() -> None:
        app = make_app(corpus=str(path))
        async with app.run_test(size=(120, 36)) as pilot:
            line = app.screen.query_one(BaselineLine)
            await wait_for(pilot, lambda: line.result is not None, what="the baseline")
            assert line.result.capped and line.result.train_chars == 2000
            assert "capped" in str(line.render())

    run(main())


def test_loss_plot_follows_a_baseline_it_must_compute(small_corpus: Corpus) -> None:
    """A resumed run's plot gets a corpus the corpus screen never saw: its own worker computes it."""

    class Plot(App):
        def compose(self) -> ComposeResult:
            yield LossPlot()

    corpus = Corpus("head-7000", small_corpus.text[:7000], "built-in")
    baselines = BaselineCache()  # what the app hands its screens' widgets

    async def main() -> None:
        app = Plot()
        async with app.run_test(size=(80, 20)) as pilot:
            plot = app.query_one(LossPlot)
            plot.set_curves([(1, 4.0), (2, 3.0)], [(2, 3.1)])
            plot.follow_baseline(corpus, 0.2, baselines)
            await wait_for(pilot, lambda: plot.baseline is not None, what="the plot's baseline")
            expected = corpus_baseline(corpus, 0.2)
            assert plot.baseline[0] == expected.best_loss
            kept = baselines.get(corpus, 0.2)  # kept in the cache it was handed, for the next plot
            assert kept is not None and kept.best_loss == expected.best_loss
            await pilot.pause()
            # The y axis stretches to show the line even when it is below every point of the curves.
            assert plot.yticks[0] <= min(3.0, expected.best_loss) + 0.5

    run(main())


def rendered_yticks(plot: LossPlot) -> list[float]:
    return [float(m[1]) for line in plot.render().plain.splitlines() if (m := re.match(r"^\s*(-?[0-9.]+)┤", line))]


def test_y_ticks_are_evenly_spaced_at_every_height() -> None:
    """Issue 13: at 100x30 the axis read 4.13, 3.70, 3.28, 2.42 (a tick skipped where two fell on one row)."""

    class Plot(App):
        def compose(self) -> ComposeResult:
            yield LossPlot()

    train = [(s, 1.95 + 2.2 * math.exp(-s / 30) + 0.05 * math.sin(s * 1.7)) for s in range(1, 151)]
    val = [(s, train[s - 1][1] + 0.08) for s in range(50, 151, 50)]

    async def main() -> None:
        for height in (8, 9, 10, 11, 14, 19, 30):
            app = Plot()
            async with app.run_test(size=(100, height)) as pilot:
                plot = app.query_one(LossPlot)
                plot.set_curves(train, val)
                await pilot.pause()
                ticks = rendered_yticks(plot)
                assert ticks == sorted(plot.yticks, reverse=True), height
                assert len(ticks) >= 2, height
                gaps = {round(a - b, 9) for a, b in zip(ticks, ticks[1:], strict=False)}
                assert len(gaps) == 1, (height, ticks)

    run(main())


def test_value_ticks_are_round_and_inside_the_range() -> None:
    assert value_ticks(1.92, 4.13, 5) == [2.0, 2.5, 3.0, 3.5, 4.0]
    assert value_ticks(1.92, 4.13, 3) == [2.0, 3.0, 4.0]
    assert value_ticks(0.0012, 0.0049, 4) == [0.002, 0.003, 0.004]
    ticks = value_ticks(1.4, 2.6, 6)
    assert ticks == [1.5, 2.0, 2.5] or len(ticks) <= 6 and all(1.4 <= t <= 2.6 for t in ticks)
    assert tick_labels([2.0, 2.25, 2.5]) == ["2.00", "2.25", "2.50"]
    assert tick_labels([2.0, 3.0]) == ["2", "3"]


def test_the_baseline_line_counts_while_it_scores_and_cancel_stops_it(hamlet: Corpus) -> None:
    """Issue 26: the line moves while the baseline is fitted, and cancelling stops the computation itself."""
    assert str(progress_line(4096, 17635)) == "n-gram baseline scoring 4,096 / 17,635 characters (23 %)"
    assert BaselineLine.Progress(1, 5, 9).can_replace(BaselineLine.Progress(1, 2, 9))
    assert not BaselineLine.Progress(2, 5, 9).can_replace(BaselineLine.Progress(1, 2, 9))

    class Line(App):
        def compose(self) -> ComposeResult:
            yield BaselineLine()

    baselines = BaselineCache()
    twice = Corpus("hamlet-twice", hamlet.text * 2, "built-in")  # 176,350 validation characters at order 10

    async def main() -> None:
        app = Line()
        async with app.run_test(size=(80, 5)) as pilot:
            line = app.query_one(BaselineLine)
            line.show_for(twice, 0.5, baselines)  # counting takes about 1 s here, the scoring 2.5 s
            await wait_for(pilot, lambda: "scoring" in str(line.render()), what="the progress line")
            predictions = len(twice.split(0.5)[1]) - 1
            assert f" / {predictions:,} characters" in str(line.render()) and line.working
            assert line.cancel()
            assert "cancelled" in str(line.render())
            # The work stopped, not just the line: the cache's computation of this key is free again at once
            # (a second computation waits for the first one's end), where the whole scoring takes seconds.
            t0 = time.monotonic()
            with pytest.raises(Cancelled):
                baselines.compute(twice, 0.5, should_stop=lambda: True)
            assert time.monotonic() - t0 < 1.0
            assert baselines.get(twice, 0.5) is None and line.result is None
            await wait_for(pilot, lambda: not line.working, what="the worker to end")
            assert not line.cancel()  # nothing left to cancel

    run(main())


def _esc_binding(screen) -> str | None:
    """What the footer shows for Esc on `screen` (None: Esc is not bound there now)."""
    active = screen.active_bindings.get("escape")
    return active.binding.description if active is not None else None


def test_esc_cancels_the_baseline_in_the_app_and_ctrl_r_or_choosing_the_corpus_again_brings_it_back(
    make_app, data_home: Path, tmp_path: Path, hamlet: Corpus
) -> None:
    """Issue 26: Esc while the corpus screen's baseline works stops the work (the cache's computation is free at
    once), the line says how to get it back, and Esc with nothing working is not taken by the screen."""
    path = tmp_path / "hamlet-thrice.txt"
    path.write_text(hamlet.text * 3, encoding="utf-8")  # capped to 500,000 training characters: seconds of work

    async def main() -> None:
        app = make_app(corpus=str(path))
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            line = screen.query_one(BaselineLine)
            await wait_for(pilot, lambda: line.computing, what="the baseline to start")
            assert "Esc cancels" in str(line.render()) and _esc_binding(screen) == "Cancel baseline"
            await pilot.press("escape")
            assert not line.computing and line.cancelled and line.result is None
            assert str(line.render()) == "n-gram baseline cancelled  Ctrl+R computes it"
            assert _esc_binding(screen) is None and screen.active_bindings["ctrl+r"].binding.description == "Baseline"
            corpus, val_fraction = screen.corpus, screen.config().val_fraction
            t0 = time.monotonic()
            with pytest.raises(Cancelled):  # the worker gave up its hold on the key: the work stopped
                app.baselines.compute(corpus, val_fraction, should_stop=lambda: True)
            assert time.monotonic() - t0 < 2.0
            await wait_for(pilot, lambda: not line.working, what="the cancelled worker to end")
            await pilot.press("escape")  # nothing works now: the screen leaves Esc alone, the line stays
            assert isinstance(app.screen, CorpusScreen) and line.cancelled
            await pilot.press("ctrl+r")
            assert line.computing and not line.cancelled and "Esc cancels" in str(line.render())
            await pilot.press("escape")
            assert line.cancelled
            # Choosing the corpus again (Enter on its play, or on its path as here) brings it back too.
            screen.query_one("#path").focus()
            await pilot.press("enter")
            await wait_for(pilot, lambda: line.computing, what="the baseline to start again")
            await wait_for(pilot, lambda: line.result is not None, timeout=180, what="the baseline")
            assert "Kneser-Ney" in str(line.render()) and _esc_binding(screen) is None and not line.cancel()

    run(main())


def test_a_held_request_waits_for_release_or_its_time_and_esc_cancels_it_too(small_corpus: Corpus) -> None:
    """The corpus screen holds the baseline until the saved runs show their first page (RunsPanel.FirstShown),
    for at most `hold`'s seconds; while it waits the line says so and cancel() drops it."""

    class Line(App):
        def compose(self) -> ComposeResult:
            yield BaselineLine()

    async def main() -> None:
        app = Line()
        async with app.run_test(size=(80, 5)) as pilot:
            line = app.query_one(BaselineLine)
            line.hold(60.0)
            line.show_for(small_corpus, 0.1, BaselineCache())
            await pilot.pause(0.3)
            assert line.pending and not line.working and "once the saved runs show" in str(line.render())
            assert line.cancel() and line.cancelled and not line.pending
            assert line.restart() and line.pending  # still held
            line.release()
            assert line.computing
            await wait_for(pilot, lambda: line.result is not None, what="the released baseline")
            line.clear()
            line.hold(0.2)  # the time runs out: it starts on its own
            line.show_for(Corpus("head", small_corpus.text[:6000], "built-in"), 0.1, BaselineCache())
            assert line.pending
            await wait_for(pilot, lambda: line.result is not None, what="the baseline after the hold's time")
            assert not line.pending and not line.cancel()

    run(main())
