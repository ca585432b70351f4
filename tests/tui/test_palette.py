"""The command palette (Ctrl+P) holds the app's commands with their keys, and runs what the keys run; Esc
closes the keys panel on every screen (issue 26, item 6)."""

from __future__ import annotations

from pathlib import Path

from test_compare import two_runs
from textual.command import CommandList, CommandPalette
from textual.widgets import HelpPanel
from tui_helpers import (
    SMALL,
    fake_saved_run,
    finished,
    run,
    runs_list_focused,
    runs_listed,
    scripted_run,
    scripted_session,
    wait_for,
)

from charrnn_tui.core.config import TINY
from charrnn_tui.generation.tokens import Token
from charrnn_tui.text.vocab import Vocab
from charrnn_tui.tui.commands import SCREEN_COMMANDS, key_for
from charrnn_tui.tui.screens.compare import CompareScreen
from charrnn_tui.tui.screens.corpus import CorpusScreen
from charrnn_tui.tui.screens.generation import GenerationScreen
from charrnn_tui.tui.screens.training import TrainingScreen


async def palette(pilot, query: str = "") -> list[tuple[str, str]]:
    """Open the palette over the current screen, type `query`, and return its (name, help) lines, best first."""
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: CommandPalette.is_open(pilot.app), what="the palette")
    if query:
        await pilot.press(*query)
    palette_screen = pilot.app.screen
    commands = palette_screen.query_one(CommandList)

    def listed() -> bool:
        return commands.option_count > 0 and not palette_screen._show_busy

    await wait_for(pilot, listed, what="the palette's commands")
    await pilot.pause(0.3)  # the palette gathers in batches: let the last one land
    return [(o.hit.text, o.hit.help or "") for o in commands._options if hasattr(o, "hit")]


def test_the_palette_holds_the_apps_commands_with_their_keys(make_app, data_home: Path) -> None:
    fake_saved_run(data_home)

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            await runs_listed(pilot)
            shown = dict(await palette(pilot))
            for name, key in (
                ("Train a new run on the chosen corpus", "Ctrl+T"),
                ("Continue training the highlighted saved run", "Ctrl+O"),
                ("Generate text from the highlighted saved run", "Ctrl+G"),
                ("Look inside the highlighted saved run", "i"),
                ("Mark the highlighted saved run for comparison", "m"),
                ("Compare the marked saved runs", "c"),
                ("Quit charrnn-tui", "Ctrl+Q"),
            ):
                assert shown[name].startswith(f"{key} · "), (name, shown.get(name))
            assert "Quit" not in shown  # Textual's own Quit, without its key, gives way to ours
            assert "Keys" in shown and "Theme" in shown  # Textual's other commands stay
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, CorpusScreen)
            # "tra" finds Train first.
            found = await palette(pilot, "tra")
            assert found[0][0] == "Train a new run on the chosen corpus"

    run(main())


def test_train_from_the_palette_starts_a_run_as_ctrl_t_does(make_app) -> None:
    async def main() -> None:
        app = make_app(corpus="hamlet", preset="tiny", overrides={"steps": 3, "eval_interval": 3})
        async with app.run_test(size=SMALL) as pilot:
            await pilot.app.workers.wait_for_complete()
            await palette(pilot, "train a new")
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen), what="the training screen")
            session = app.screen.session
            assert session.config.steps == 3 and session.corpus_name == "hamlet"
            await wait_for(pilot, lambda: not session.active, what="the three steps")

    run(main())


def test_mark_compare_and_look_inside_from_the_palette(make_app, data_home: Path) -> None:
    two_runs(data_home)

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            screen, runs = await runs_list_focused(pilot)
            await palette(pilot, "mark the")
            await pilot.press("enter")
            await pilot.pause()
            assert screen.marked == {screen.runs[0].path}
            runs.focus()
            await pilot.press("down")
            await palette(pilot, "mark the")
            await pilot.press("enter")
            await pilot.pause()
            assert screen.marked == {r.path for r in screen.runs}
            await palette(pilot, "compare the")
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="the comparison")
            compare = app.screen
            # Its own commands: the axis, with the key t.
            found = dict(await palette(pilot, "switch"))
            assert found["Switch the x axis: steps or seconds"].startswith("t · ")
            await pilot.press("enter")
            await pilot.pause()
            assert compare.by_seconds
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, CorpusScreen)
            # Look inside: what the key i does, loading the highlighted run (its stand-in weights: it says so).
            await palette(pilot, "look inside")
            await pilot.press("enter")
            notes = app._notifications
            await wait_for(pilot, lambda: any("validation text" in n.message for n in notes), 30, "the loading")
            await wait_for(pilot, lambda: any(n.severity == "error" for n in notes), 30, "the refusal")

    run(main())


def test_the_training_screen_offers_only_the_keys_that_work_now(make_app, hamlet) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            await pilot.app.workers.wait_for_complete()
            session = scripted_session(app, hamlet, until=60)
            await pilot.pause()
            live = dict(await palette(pilot))
            assert live["Pause or resume training"].startswith("space · ")
            assert live["Stop training..."].startswith("x · ")
            assert live["Quit charrnn-tui"].startswith("Ctrl+Q · ")
            assert "Generate text from the best weights" not in live  # b works only while the run overfits
            await pilot.press("escape")
            await pilot.pause()
            session.on_event(finished(60))
            await pilot.pause()
            ended = dict(await palette(pilot))
            assert "Pause or resume training" not in ended and "Stop training..." not in ended
            assert ended["Generate text from the current weights"].startswith("g · ")

    run(main())


def test_quit_from_the_palette_ends_the_app(make_app) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            await palette(pilot, "quit")
            await pilot.press("enter")
            await wait_for(pilot, lambda: app._exit_renderables is not None and not app.is_running, what="the exit")

    run(main())


def test_every_command_names_an_action_its_screen_has_and_a_key() -> None:
    # The table names actions by string: a renamed action must fail here, not silently in the palette.
    for screen_type, commands in SCREEN_COMMANDS.items():
        for command in commands:
            name = command.action.removeprefix("app.")
            owner = "App" if command.action.startswith("app.") else screen_type.__name__
            holder = __import__("textual.app", fromlist=["App"]).App if owner == "App" else screen_type
            assert hasattr(holder, f"action_{name}"), (screen_type.__name__, command.action)


def _generation_screen() -> GenerationScreen:
    return GenerationScreen(None, Vocab.from_text("abc \n"), "abc", "tiny model")


def test_esc_closes_the_keys_panel_on_every_screen(make_app, hamlet, data_home: Path) -> None:
    two_runs(data_home)

    async def closes(pilot, screen_type: type) -> None:
        app = pilot.app
        esc = app.screen.active_bindings.get("escape")
        assert esc is None or esc.binding.action != "close_keys"  # closed: the screen's own Esc, in its footer
        app.action_show_help_panel()
        await pilot.pause()
        assert app.screen.query(HelpPanel)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, screen_type)  # Esc closed the panel, not the screen
        assert not app.screen.query(HelpPanel)

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            await runs_listed(pilot)
            await closes(pilot, CorpusScreen)
            session = app.start_training(hamlet, TINY, run_dir=Path("run"), scripted=True)
            session.on_event(scripted_run(hamlet, until=10)[0])
            await pilot.pause()
            await closes(pilot, TrainingScreen)
            await pilot.press("escape")  # with no panel, Esc is the screen's again: back
            await pilot.pause()
            assert isinstance(app.screen, CorpusScreen)
            gen = _generation_screen()
            await app.push_screen(gen)
            await pilot.pause()
            await closes(pilot, GenerationScreen)
            gen.show_tokens("abc", [Token("a", 0.5, (("a", 0.5),))])
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, CorpusScreen)
            await app.push_screen(CompareScreen(app.screen.runs))
            await pilot.pause()
            await closes(pilot, CompareScreen)

    run(main())


def test_key_for_reads_the_screens_bindings() -> None:
    # Ctrl+O on the generation screen looks inside; i on the corpus screen is the saved runs list's key.
    from textual.app import App

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(_generation_screen())

    async def main() -> None:
        app = Host()
        async with app.run_test(size=SMALL) as pilot:
            await pilot.pause()
            assert key_for(app.screen, "inspect") == "Ctrl+O"
            assert key_for(app.screen, "refresh_weights") == "F5"
            assert key_for(app.screen, "back") == "Esc"
            assert key_for(app.screen, "nothing_of_the_kind") == ""

    run(main())
