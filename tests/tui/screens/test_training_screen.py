"""The training screen: redraws at a bounded rate and still catches up; fits 80x24; after the end shows what
the run ended with and only the keys that work; Esc leaves a run training; stopping and quitting ask, and
the question stays current; a rising validation loss is called overfitting."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from textual.widgets import Static
from tui_helpers import (
    RUN_NAME,
    SIZE,
    SMALL,
    corpus_loaded,
    drawn,
    finished,
    inside,
    run,
    scripted_run,
    shown,
    wait_for,
)

from charrnn_tui.core.config import TINY
from charrnn_tui.core.events import CheckpointSaved, Evaluated, Notice, Sample, Step
from charrnn_tui.present.formatting import fmt_duration
from charrnn_tui.text.corpus import Corpus
from charrnn_tui.tui.screens.corpus import CorpusScreen
from charrnn_tui.tui.screens.quit import QuitScreen
from charrnn_tui.tui.screens.training import TrainingScreen
from charrnn_tui.tui.state.overfitting import Overfit, overfitting
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


async def scripted(pilot, hamlet: Corpus, until: int = 150, size_ok: bool = True):
    """A scripted run on the training screen; the corpus screen loaded first, as a user would see it."""
    app = pilot.app
    await corpus_loaded(pilot)
    session = app.start_training(hamlet, TINY, run_dir=Path(RUN_NAME), scripted=True)
    await pilot.pause()
    for ev in scripted_run(hamlet, until=until):
        session.on_event(ev)
    screen = app.screen
    assert isinstance(screen, TrainingScreen)
    screen.redraw(force=True)
    await pilot.pause()
    return session, screen


def footer_keys(screen: TrainingScreen) -> set[str]:
    return {b.binding.action for b in screen.active_bindings.values() if b.enabled and b.binding.show}


def test_at_80x24_plot_numbers_and_samples_all_show(make_app, hamlet: Corpus) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            _, screen = await scripted(pilot, hamlet)
            for wid in ("#loss-plot", "#stats-box", "#samples-box", "#training-hint"):
                assert inside(screen.query_one(wid), screen), wid
            assert screen.query_one("#loss-plot").region.width >= 36
            assert screen.query_one("#samples-box").region.height >= 6

    run(main())


def test_the_trainers_notices_reach_the_user(make_app, hamlet: Corpus) -> None:
    # e.g. training on a run that stopped early, or a run folder deleted under a running training
    from charrnn_tui.core.events import ThreadsChanged
    from charrnn_tui.headless.progress import threads_changed_line

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            session, screen = await scripted(pilot, hamlet)
            session.on_event(Notice(150, "this run stopped early: \x1b]0;x\x07 training on continues"))
            await pilot.pause()
            # a line in the layout, not a toast that stays over the overfitting advice (issue 26 item 8)
            note = screen.query_one("#training-note", Static)
            assert shown(note) == "this run stopped early: ␛]0;x␇ training on continues"
            assert inside(note, screen) and not app._notifications
            # A thread change, in the words of --train-only's line (issue 26 item 5), replaces it.
            ev = ThreadsChanged(151, 1, 2, ((1, 0.051), (2, 0.093)))
            session.on_event(ev)
            await pilot.pause()
            assert shown(note) == threads_changed_line(ev) and inside(note, screen)
            assert shown(note).startswith("step 151: training on 1 thread from here on (the cores are busy")

    run(main())


def test_an_early_stop_says_why_and_that_the_best_weights_are_kept(make_app, hamlet: Corpus) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            session, screen = await scripted(pilot, hamlet)
            session.on_event(replace(finished(), reason="patience", kept_step=100, stalled_evals=10))
            await pilot.pause(0.6)
            # what is drawn at 80x24, beside the panel's scrollbar: every row, each whole (only the run folder's
            # name, as long as its corpus name, may end in an ellipsis)
            lines = drawn(screen.query_one("#stats-table")).splitlines()
            labels = [line.split()[0] for line in lines if line.strip()]
            expected = ["status", "ended", "final", "loss", "val", "best", "weights", "chars/s", "elapsed", "model",
                        "params", "device", "corpus", "train/val", "vocab", "run", "saved"]  # fmt: skip
            assert labels == expected, "\n".join(lines)
            assert all("…" not in line for line in lines if not line.startswith("run")), "\n".join(lines)
            table = " ".join(" ".join(lines).split())
            assert "ended no gain in 10 evals" in table, table
            assert "weights step 100 (best)" in table, table  # tui/state/stats.py's short form
            assert "params 26,176" in table and "train/val 158,715 / 17,635" in table, table
            result = screen.query_one("#training-result", Static)
            assert shown(result) == (
                "finished at step 150: stopped early: no better validation loss in 10 evaluations; best weights, "
                "of step 100 (trained to step 150)."
            )
            assert inside(result, screen) and result.region.height == 2  # two whole rows at 80 columns

    run(main())


def test_a_finished_run_shows_what_it_ended_with_and_only_keys_that_work(make_app, hamlet: Corpus) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            session, screen = await scripted(pilot, hamlet)
            assert {"pause", "save", "stop"} <= footer_keys(screen)
            assert "ETA" in shown(screen.query_one("#stats-table"))
            session.on_event(finished())
            await pilot.pause(0.6)
            table = shown(screen.query_one("#stats-table"))
            assert "ETA" not in table and "/ 200" not in table  # no live-looking budget
            assert "final step 150" in " ".join(table.split()) and "time budget reached" in table
            assert "elapsed" in table and fmt_duration(7.5) in table
            assert not screen.query_one("#stats-progress").display
            assert footer_keys(screen) & {"pause", "save", "stop"} == set()
            await pilot.press("x", "space")  # keys that do nothing now do nothing
            await pilot.pause()
            assert app.screen is screen and session.status == "finished"
            end = shown(screen.query_one("#training-end"))
            assert f"charrnn-tui --generate-only --run-dir {RUN_NAME}" in end
            assert f"--resume --run-dir {RUN_NAME}" in end

    run(main())


def test_esc_goes_back_without_stopping_and_ctrl_t_returns(make_app, hamlet: Corpus) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            session, _ = await scripted(pilot, hamlet)
            await pilot.press("escape")
            await pilot.pause()
            corpus = app.screen
            assert isinstance(corpus, CorpusScreen)
            assert session.status == "running"  # Esc never stops a run
            banner = corpus.query_one("#corpus-running", Static)
            assert banner.display and "Ctrl+T returns" in shown(banner) and "150" in shown(banner)
            assert inside(banner, corpus)
            await pilot.press("ctrl+t")  # back to the same run, not a second one
            await pilot.pause()
            assert isinstance(app.screen, TrainingScreen) and app.screen.session is session
            assert app.session is session
            assert sum(isinstance(s, TrainingScreen) for s in app.screen_stack) == 1
            await pilot.press("escape")
            await pilot.pause()
            await pilot.press("ctrl+o")  # continuing a saved run while one trains starts nothing
            await pilot.pause()
            assert app.session is session
            session.on_event(finished())  # it ends behind the corpus screen: said, and the banner goes
            banner = app.screen.query_one("#corpus-running", Static)
            await wait_for(pilot, lambda: not banner.display, timeout=3, what="the banner to go")
            assert any("background finished" in n.message for n in app._notifications)

    run(main())


def test_stopping_asks_and_keep_training_keeps_it(make_app, hamlet: Corpus) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            session, screen = await scripted(pilot, hamlet)
            await pilot.press("x")
            await pilot.pause()
            assert isinstance(app.screen, QuitScreen)
            assert "before you stop" in shown(app.screen.query_one("#quit-question"))
            for wid in ("#save", "#discard", "#cancel"):
                assert inside(app.screen.query_one(wid), app.screen), wid
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is screen and session.status == "running"
            await pilot.press("x", "d")  # stop without saving
            await pilot.pause()
            assert session.status == "stopping" and session.control.save_on_stop is False

    run(main())


def test_the_quit_question_follows_the_step(make_app, hamlet: Corpus) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            session, _ = await scripted(pilot, hamlet, until=100)
            await pilot.press("ctrl+q")
            await pilot.pause()
            dialog = app.screen
            assert isinstance(dialog, QuitScreen)
            assert "step 100" in shown(dialog.query_one("#quit-question"))
            for step in range(101, 121):
                session.on_event(Step(step, 2.0, 0.01, 1.0, step * 0.05, None, step / 200))
            session.on_event(CheckpointSaved(120, "x/checkpoint.pt", "timer"))
            question = dialog.query_one("#quit-question")
            await wait_for(pilot, lambda: "step 120" in shown(question), timeout=3, what="the new step")
            assert "checkpoint of step 120" in shown(question)
            await pilot.press("escape")
            await pilot.pause()
            assert app.is_running and session.status == "running"

    run(main())


def test_a_rising_validation_loss_says_overfitting_and_what_helps(make_app, hamlet: Corpus) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            session, screen = await scripted(pilot, hamlet)  # evaluations at 50, 100, 150, falling
            warning = screen.query_one("#training-warning", Static)
            assert not warning.display
            best = session.best_val
            session.on_event(Evaluated(200, best + 0.5, best, 10.0))
            await pilot.pause(0.6)
            assert not warning.display  # one bad evaluation is noise
            session.on_event(Evaluated(250, best + 0.6, best, 12.5))
            await pilot.pause(0.6)
            assert warning.display and inside(warning, screen)
            text = " ".join(shown(warning).split())
            assert "Overfitting" in text and "smaller model" in text and "dropout" in text and "keep_best" in text

    run(main())


def test_overfitting_needs_two_evaluations_well_above_the_best() -> None:
    assert overfitting([(1, 2.0), (2, 1.5), (3, 1.7), (4, 1.8)]) == Overfit(2, 1.5, 1.8)
    assert overfitting([(1, 2.0), (2, 1.5), (3, 1.7), (4, 1.55)]) is None  # back near the best
    assert overfitting([(1, 2.0), (2, 1.5), (3, 1.58), (4, 1.59)]) is None  # < 0.1 nats above
    assert overfitting([(1, 20.0), (2, 15.0), (3, 15.2), (4, 15.3)]) is None  # < 5% above
    assert overfitting([(1, 2.0), (2, 2.5)]) is None  # too few to tell


def test_with_the_keys_panel_open_at_80x24_plot_and_numbers_share_the_width(make_app, hamlet: Corpus) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            _, screen = await scripted(pilot, hamlet)
            app.action_show_help_panel()
            await pilot.pause()
            await pilot.pause()
            for wid in ("#loss-plot", "#stats-box"):
                widget = screen.query_one(wid)
                assert inside(widget, screen) and widget.region.width >= 20, wid

    run(main())


def test_the_speed_row_says_how_many_threads_train_while_the_run_lasts(make_app, hamlet: Corpus) -> None:
    # The trainer picks the intra-op thread count during the run (charrnn_tui/training/cpu_threads.py); at 80x24 the
    # widest case, a 6-digit speed on 16 threads, is drawn whole beside the panel's scrollbar.
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            session, screen = await scripted(pilot, hamlet)
            session.on_event(Step(151, 2.0, 0.01, 123_456.0, 7.6, 1.0, 151 / 200, threads=16))
            screen.redraw(force=True)
            await pilot.pause()
            table = drawn(screen.query_one("#stats-table"))
            assert "chars/s   123,456 · 16 threads" in table, table
            session.on_event(Step(152, 2.0, 0.01, 54_321.0, 7.7, 1.0, 152 / 200, threads=1))
            screen.redraw(force=True)
            await pilot.pause()
            assert "54,321 · 1 thread " in drawn(screen.query_one("#stats-table"))  # one thread, no plural
            session.on_event(finished())
            await pilot.pause(0.6)
            table = shown(screen.query_one("#stats-table"))
            assert "chars/s" in table and "thread" not in table  # a finished run trains on no threads

    run(main())


def test_every_hint_line_fits_at_80x24(make_app, hamlet: Corpus) -> None:
    # The hint under the panels says what each key does in each state; cut at 80 columns it read "... · q".
    from charrnn_tui.tui.screens.training import HINTS

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            _, screen = await scripted(pilot, hamlet)
            hint = screen.query_one("#training-hint", Static)
            for status, text in HINTS.items():
                hint.update(text, layout=False)
                await pilot.pause()
                assert drawn(hint).strip() == text, status

    run(main())


def drawn_whole(widget) -> str:
    """What a widget draws, padding included (tui_helpers.drawn crops to the content's size)."""
    from textual.geometry import Region

    return "\n".join(strip.text for strip in widget.render_lines(Region(0, 0, *widget.outer_size)))


async def finished_overfit(pilot, hamlet: Corpus, copy_too_early: bool = False):
    """A scripted run that overfits, then ends on its budget with a final checkpoint; `copy_too_early` presses the
    copy key first, while nothing is saved (it must copy nothing)."""
    session, screen = await scripted(pilot, hamlet)
    if copy_too_early:
        await pilot.press("c")
        assert pilot.app.clipboard == "" and "copy_resume" not in footer_keys(screen)
    best = session.best_val
    session.on_event(Evaluated(200, best + 0.5, best, 10.0))
    session.on_event(Evaluated(250, best + 0.6, best, 12.5))
    session.on_event(CheckpointSaved(250, f"{RUN_NAME}/checkpoint.pt", "final"))
    session.on_event(replace(finished(), step=250))
    await pilot.pause(0.6)
    return session, screen


def test_the_finished_screen_at_80x24_keeps_curve_result_folder_and_whole_commands(make_app, hamlet: Corpus) -> None:
    from charrnn_tui.present.formatting import generate_command, resume_command

    # Issue 26 item 3: the curve shrank to 3 rows under its legend, and a long run folder wrapped the commands and
    # pushed the status line off the screen. With the overfitting advice up too, everything is there.
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            _, screen = await finished_overfit(pilot, hamlet, copy_too_early=True)
            for wid in ("#loss-plot", "#training-warning", "#training-result", "#training-end", "#training-hint"):
                assert inside(screen.query_one(wid), screen), wid
            plot = screen.query_one(LossPlot)
            assert plot.region.height >= 9 and "5-gram" in str(plot.border_subtitle)  # the legend is in the border
            end = screen.query_one("#training-end", Static)
            rows = drawn_whole(end).splitlines()
            assert [row.split()[0] for row in rows] == ["run", "y", "c"], rows  # one row per command, unwrapped
            assert rows[2].strip().endswith(f"--run-dir {RUN_NAME}") and end.region.height == 3
            assert drawn(screen.query_one("#training-hint")).strip().startswith("Done.")
            # A command cut at the screen's edge is copied whole by its key (App.copy_to_clipboard).
            assert {"copy_resume", "copy_generate"} <= footer_keys(screen)
            await pilot.press("c")
            assert app.clipboard == resume_command(Path(RUN_NAME))
            await pilot.press("y")
            assert app.clipboard == generate_command(Path(RUN_NAME))

    run(main())


def test_a_slow_start_says_the_machine_looks_busy_until_the_rate_is_near_the_plan(make_app, hamlet: Corpus) -> None:
    # Issue 26 item 5: a continued run crawled at 427 chars/s for 35 s before 10,000, and the app said nothing.
    from charrnn_tui.training.rates import Sizing

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            await pilot.pause()
            sizing = Sizing(TINY, 158_715, chars_per_s=10_000.0)
            session = app.start_training(hamlet, TINY, run_dir=Path(RUN_NAME), scripted=True, sizing=sizing)
            await pilot.pause()
            screen = app.screen
            note = screen.query_one("#training-note", Static)
            session.on_event(scripted_run(hamlet, until=0)[0])  # Started
            session.on_event(Step(1, 4.0, 0.01, 427.0, 2.0, None, 0.01))
            screen.redraw(force=True)
            await pilot.pause()
            assert shown(note) == "starting: 427 chars/s so far, the machine looks busy" and inside(note, screen)
            session.on_event(Step(2, 4.0, 0.01, 9_000.0, 3.0, None, 0.02))  # near the plan: nothing to say
            screen.redraw(force=True)
            await pilot.pause()
            assert not note.display
            session.on_event(Step(3, 4.0, 0.01, 427.0, 90.0, None, 0.5))  # slow later on is not a slow start
            screen.redraw(force=True)
            await pilot.pause()
            assert not note.display

    run(main())
