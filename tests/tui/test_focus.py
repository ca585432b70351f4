"""Focus you can see (issue 26, item 7): on every screen, each part that takes the focus looks different while
it has it, by more than the text cursor, in the default theme and in a 16-colour terminal (its colours
brought down to the 16 standard ones, as Rich does for such a terminal). Snapshots of the focused settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.color import Color, ColorSystem
from test_compare import two_runs
from textual.widget import Widget
from tui_helpers import SMALL, WIDE, run, runs_list_focused, runs_listed, scripted_session, wait_for

from charrnn_tui.text.vocab import Vocab
from charrnn_tui.tui.screens.compare import CompareScreen
from charrnn_tui.tui.screens.generation import GenerationScreen
from charrnn_tui.tui.screens.locate import LocateCorpusScreen
from charrnn_tui.tui.screens.quit import QuitScreen

SYSTEMS = {"truecolor": ColorSystem.TRUECOLOR, "16 colours": ColorSystem.STANDARD}


def _colour(color: Color | None, system: ColorSystem) -> object:
    if color is None:
        return None
    down = color.downgrade(system)
    return down.number if down.number is not None else down.triplet


def looks(widget: Widget, system: ColorSystem) -> list[tuple[str, object, object, bool]]:
    """What the screen shows in the widget's region, cell by cell: the character, its colours as a terminal
    of `system` shows them, and whether it is reversed (bold alone does not count: many terminals barely
    show it)."""
    region = widget.region
    strips = widget.screen._compositor.render_strips()[region.y : region.bottom]
    out = []
    for strip in strips:
        for seg in strip.crop(region.x, region.right):
            st = seg.style
            key = (
                (None, None, False)
                if st is None
                else (_colour(st.color, system), _colour(st.bgcolor, system), bool(st.reverse))
            )
            out += [(ch, *key) for ch in seg.text]
    return out


async def focus_shows(pilot, widget: Widget) -> dict[str, int]:
    """For each colour system, how many cells of `widget` change when it takes the focus (from none)."""
    screen = widget.screen
    widget.focus()
    await pilot.pause()
    focused = {name: looks(widget, system) for name, system in SYSTEMS.items()}
    screen.set_focus(None)  # no other widget: nothing scrolls, the region stays where it was
    await pilot.pause()
    return {
        name: sum(a != b for a, b in zip(focused[name], looks(widget, system), strict=True))
        for name, system in SYSTEMS.items()
    }


async def every_focus_shows(pilot) -> None:
    """Each widget in the current screen's focus chain shows its focus on at least min(its width, 8) cells: a
    border, a background, a reversed label; the one cell of a text cursor is not enough."""
    chain = [w for w in pilot.app.screen.focus_chain if w.region.area > 0]
    assert chain, "nothing to focus"
    weak = {}
    for widget in chain:
        changed = await focus_shows(pilot, widget)
        need = min(widget.region.width, 8)
        if any(n < need for n in changed.values()):
            weak[f"{type(widget).__name__}#{widget.id}"] = changed
    assert weak == {}, f"focus barely shows on {weak}"


@pytest.mark.parametrize("size", [SMALL, WIDE], ids=["80x24", "120x40"])
def test_focus_shows_on_the_corpus_screen(make_app, data_home: Path, size) -> None:
    two_runs(data_home)

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=size) as pilot:
            await runs_listed(pilot)
            await pilot.app.workers.wait_for_complete()
            await every_focus_shows(pilot)

    run(main())


def test_the_focused_settings_label_is_marked(make_app) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            await pilot.app.workers.wait_for_complete()
            screen = app.screen
            screen.query_one("#set-max_seconds").focus()
            await pilot.pause()
            marked = [str(label.render()) for label in screen.query("SettingsForm Label.-focused")]
            assert marked == ["seconds (0: none)"]
            screen.query_one("#set-hidden").focus()
            await pilot.pause()
            assert [str(label.render()) for label in screen.query("SettingsForm Label.-focused")] == ["hidden size"]
            screen.query_one("#plays").focus()
            await pilot.pause()
            assert not screen.query("SettingsForm Label.-focused")

    run(main())


def test_focus_shows_on_the_training_screen_and_its_questions(make_app, hamlet) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            await pilot.app.workers.wait_for_complete()
            session = scripted_session(app, hamlet, until=60)
            await pilot.pause()
            await every_focus_shows(pilot)
            await app.push_screen(QuitScreen(session))
            await pilot.pause()
            await every_focus_shows(pilot)
            await pilot.press("escape")
            await app.push_screen(LocateCorpusScreen("/nowhere/notes.txt"))
            await pilot.pause()
            await every_focus_shows(pilot)

    run(main())


@pytest.mark.parametrize("size", [SMALL, WIDE], ids=["80x24", "120x40"])
def test_focus_shows_on_the_generation_screen(make_app, size) -> None:
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=size) as pilot:
            await app.push_screen(GenerationScreen(None, Vocab.from_text("abc \n"), "abc", "tiny model", step=3))
            await pilot.pause()
            await every_focus_shows(pilot)

    run(main())


def test_focus_shows_on_the_inside_views(make_app, tiny, small_corpus) -> None:
    from charrnn_tui.training.trainer import Trainer
    from charrnn_tui.tui.screens.inside.cells import CellsScreen
    from charrnn_tui.tui.screens.inside.surprise import SurpriseScreen

    trainer = Trainer(small_corpus, tiny(steps=2, hidden=16, eval_interval=1000))
    trainer.run()
    model, vocab = trainer.snapshot()
    text = small_corpus.text[:3000]

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            for view in (SurpriseScreen, CellsScreen):
                screen = view(model, vocab, text, "tiny model")
                await app.push_screen(screen)
                await wait_for(pilot, lambda s=screen: s.result is not None, what="the view's text")
                await pilot.pause()
                await every_focus_shows(pilot)
                app.pop_screen()
                await pilot.pause()

    run(main())


def test_focus_shows_on_the_comparison(make_app, data_home: Path) -> None:
    two_runs(data_home)

    async def main() -> None:
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            screen, _ = await runs_list_focused(pilot)
            await pilot.press("m", "down", "m", "c")
            await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="the comparison")
            await pilot.pause()
            chain = [w for w in app.screen.focus_chain if w.region.area > 0]
            if chain:  # the plot takes no focus today; should anything, its focus must show
                await every_focus_shows(pilot)

    run(main())


class TestFocusSnapshots:
    """The corpus screen with the time budget focused: its value on an $accent background, its label in $accent,
    and the settings panel's border in $accent (before issue 26: a one-step grey)."""

    @staticmethod
    async def budget_focused(pilot) -> None:
        await runs_listed(pilot)
        await pilot.app.workers.wait_for_complete()
        pilot.app.screen.query_one("#set-max_seconds").focus()
        await pilot.pause()
        await pilot.pause()

    @pytest.mark.parametrize("size", [SMALL, WIDE], ids=["80x24", "120x40"])
    def test_the_focused_budget(self, snap_compare, make_app, size) -> None:
        assert snap_compare(make_app(), terminal_size=size, run_before=self.budget_focused)
