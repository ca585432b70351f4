"""The whole flow, driven through the keyboard with real training: choose Hamlet, pick the tiny preset,
train, watch the curve and samples, generate, continue the run, quit."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, OptionList, Select
from tui_helpers import SMALL, press_busy, run, runs_listed, wait_for

from charrnn_tui.tui.screens.corpus import CorpusScreen
from charrnn_tui.tui.screens.generation import GenerationScreen
from charrnn_tui.tui.screens.training import TrainingScreen
from charrnn_tui.tui.widgets.generated_text import GeneratedText
from charrnn_tui.tui.widgets.loss_plot import LossPlot
from charrnn_tui.tui.widgets.sample_panel import SamplePanel


async def choose_tiny(pilot, steps: int) -> None:
    screen = pilot.app.screen
    assert isinstance(screen, CorpusScreen)
    await wait_for(pilot, lambda: screen.corpus is not None, what="Hamlet to load")
    assert screen.corpus.name == "hamlet"
    assert screen.query_one("#plays", OptionList).highlighted == 0  # Hamlet first and highlighted
    screen.query_one("#preset", Select).focus()
    await pilot.press("enter", "down", "down", "enter")  # fast, tutorial, tiny
    await pilot.pause()
    assert screen.preset_name == "tiny"
    screen.query_one("#set-steps", Input).focus()
    await pilot.press("ctrl+a", "ctrl+k", *str(steps))
    await pilot.pause()
    assert screen.config().steps == steps


def test_train_generate_continue_quit(make_app, data_home: Path) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            await choose_tiny(pilot, steps=40)
            await pilot.press("ctrl+t")
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen), what="the training screen")
            screen = app.screen
            session = app.session
            plot = screen.query_one(LossPlot)
            await wait_for(pilot, lambda: session.status == "finished", what="training to finish")
            await pilot.pause(0.3)  # one redraw tick
            assert session.result.step == 40
            assert plot.points[0] == 40 and plot.points[1] >= 1  # every step and the final evaluation
            shown = screen.query_one(SamplePanel).content
            assert shown.samples[-1].step == 40
            assert (session.run_dir / "checkpoint.pt").is_file()
            assert session.run_dir.parent == data_home / "runs"

            await pilot.press("g")
            await wait_for(pilot, lambda: isinstance(app.screen, GenerationScreen), what="the generation screen")
            gen = app.screen
            gen.query_one("#length", Input).value = "60"
            await pilot.press(*"HAMLET", "enter")
            await wait_for(pilot, lambda: not gen.generating, what="generation to end")
            pane = gen.query_one(GeneratedText)
            assert pane.plain.startswith("HAMLET") and pane.n_chars == 60
            first = pane.plain
            await pilot.press("ctrl+n")  # continue, state carried
            await wait_for(pilot, lambda: not gen.generating, what="the continuation")
            assert pane.n_chars == 120 and pane.plain.startswith(first)
            await pilot.press("ctrl+r")
            assert pane.plain == ""

            await pilot.press("escape", "escape")  # generation -> training -> corpus
            corpus_screen = app.screen
            assert isinstance(corpus_screen, CorpusScreen)
            runs = corpus_screen.query_one("#runs", OptionList)
            await runs_listed(pilot, corpus_screen)
            assert [r.step for r in corpus_screen.runs] == [40]
            runs.focus()
            await pilot.pause()
            assert runs.highlighted == 0  # focusing the list lands on the newest run
            await pilot.press("enter")  # continue training for another 40 steps
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen), what="the resumed run")
            await wait_for(pilot, lambda: app.session.status in ("finished", "failed"), what="the resumed run")
            assert app.session.status == "finished", app.session.result
            assert app.session.started.resumed and app.session.started.step == 40
            assert app.session.result.step == 80
            await pilot.press("ctrl+q")
            await pilot.pause()
        assert app.return_code == 0

    run(main())


def quit_mid_training(make_app, choice: str) -> Path:
    async def main() -> Path:
        # No budget: training only ends when asked to; evaluations (and their checkpoints) far away.
        app = make_app(preset="tiny", overrides={"steps": 0, "max_seconds": 0, "eval_interval": 100_000})
        async with app.run_test(size=SMALL) as pilot:
            await wait_for(pilot, lambda: app.screen.corpus is not None, what="Hamlet to load")
            await press_busy(pilot, "ctrl+t")
            await wait_for(pilot, lambda: app.session is not None and app.session.last_step is not None,
                           what="the first step")  # fmt: skip
            await press_busy(pilot, "ctrl+q")
            await wait_for(
                pilot, lambda: type(app.screen).__name__ == "QuitScreen", timeout=10, what="the quit question"
            )
            assert app.session.status == "running"  # asking does not stop anything
            await press_busy(pilot, choice)
            await wait_for(pilot, lambda: not app.is_running, timeout=60, what="the app to exit")
        assert app.session.status in ("finished", "stopping")
        return app.session.run_dir

    return run(main())


def test_quit_mid_training_saves_when_asked(make_app) -> None:
    run_dir = quit_mid_training(make_app, "s")
    assert (run_dir / "checkpoint.pt").is_file()


def test_quit_mid_training_without_saving_keeps_no_new_checkpoint(make_app) -> None:
    run_dir = quit_mid_training(make_app, "d")
    assert not (run_dir / "checkpoint.pt").exists()


def test_stop_asks_then_saves_and_the_screen_shows_the_end(make_app) -> None:
    async def main() -> None:
        app = make_app(preset="tiny", overrides={"steps": 0, "max_seconds": 0, "eval_interval": 100_000})
        async with app.run_test(size=SMALL) as pilot:
            await wait_for(pilot, lambda: app.screen.corpus is not None, what="Hamlet to load")
            await press_busy(pilot, "ctrl+t")
            await wait_for(pilot, lambda: app.session is not None and app.session.last_step is not None,
                           what="the first step")  # fmt: skip
            screen = app.screen
            await press_busy(pilot, "x")
            await wait_for(
                pilot, lambda: type(app.screen).__name__ == "QuitScreen", timeout=10, what="the stop question"
            )
            assert app.session.status == "running"
            await press_busy(pilot, "s")
            await wait_for(pilot, lambda: app.session.status == "finished", timeout=60, what="the stop")
            await pilot.pause(0.6)
            assert app.session.result.reason == "stopped"
            assert (app.session.run_dir / "checkpoint.pt").is_file()
            table = str(screen.query_one("#stats-table").content)
            assert "stopped before budget" in table and "ETA" not in table
            assert str(app.session.run_dir) in " ".join(str(screen.query_one("#training-end").content).split())

    run(main())
