"""Test-only behaviour lives in the tests: tests/tui/conftest.py makes every text input's cursor steady (a
blink caught mid-way would change a snapshot), in any app and on any screen, and the production screens carry
no code for it."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.widgets import Input
from tui_helpers import SMALL, run

import charrnn_tui.tui
from charrnn_tui.tui.screens.locate import LocateCorpusScreen


def test_an_input_on_a_screen_the_app_never_steadied_has_a_steady_cursor() -> None:
    """A dialog in a plain App: neither the app's test mode nor the screen does anything about the cursor."""

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(LocateCorpusScreen("/nowhere/play.txt"))

    async def main() -> None:
        app = Host()
        async with app.run_test(size=SMALL) as pilot:
            await pilot.pause()
            inputs = list(app.screen.query(Input))
            assert inputs and app.focused in inputs
            assert not any(i.cursor_blink for i in inputs)

    run(main())


def test_no_module_of_the_app_steadies_cursors_for_the_tests() -> None:
    package = Path(charrnn_tui.tui.__file__).parent
    carrying = [
        str(p.relative_to(package)) for p in package.rglob("*.py") if "steady_inputs" in p.read_text(encoding="utf-8")
    ]
    assert carrying == []
