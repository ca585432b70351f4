"""The Surprise and Cells screens at 80x24, on a tiny model trained here, driven by the keyboard."""

from __future__ import annotations

import pytest
import torch
from textual.app import App
from textual.widgets import Input, Static
from tui_helpers import ScreenHost, run, wait_for

from charrnn_tui.inside.inspection import rank_cells, record_cells, surprise
from charrnn_tui.training.trainer import Trainer
from charrnn_tui.tui.screens.generation import GenerationScreen
from charrnn_tui.tui.screens.inside.cells import CellsScreen
from charrnn_tui.tui.screens.inside.surprise import SurpriseScreen
from charrnn_tui.tui.widgets.char_heat import CharHeat, safe_char

SIZE = (80, 24)


@pytest.fixture
def trained(tiny, small_corpus):
    trainer = Trainer(small_corpus, tiny(steps=15, n_layers=2, hidden=16, eval_interval=1000))
    trainer.run()
    model, vocab = trainer.snapshot()
    return model, vocab, small_corpus.text[-1500:]


def fits(screen, widget_id: str) -> bool:
    region = screen.query_one(widget_id).region
    return region.width > 0 and region.height > 0 and region.right <= SIZE[0] and region.bottom <= SIZE[1]


def test_surprise_screen(trained) -> None:
    model, vocab, text = trained
    expected = surprise(model, vocab, text)

    async def main() -> None:
        screen = SurpriseScreen(model, vocab, text, "tiny model")
        app = ScreenHost(screen)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: screen.result is not None, what="the text to be scored")
            await pilot.pause()
            info = str(screen.query_one("#inside-info", Static).render())
            assert f"mean {expected.mean_bits:.3f} bits/char = {expected.mean_nats:.4f} nats/char" in info
            assert f"sum {expected.sum_bits:,.0f} bits" in info
            for part in ("#inside-text", "#inside-side", "#inside-input", "#inside-info"):
                assert fits(screen, part), part
            assert screen.query_one("#inside-text").region.width >= 40
            keys = {b.binding.key for b in screen.active_bindings.values() if b.binding.show}
            assert {"t", "v", "c", "escape"} <= keys

            heat = screen.query_one(CharHeat)
            assert heat.has_focus and heat.cursor == 1
            await pilot.press("right", "right")
            assert heat.cursor == 3
            detail = str(screen.query_one("#inside-detail", Static).render())
            p = float(expected.prob[2]) * 100
            assert f"p = {p:.2f}%" in detail and "the model expected" in detail
            top = vocab.chars[int(expected.top_ids[2, 0])]
            assert {"\n": "↵", " ": "␣"}.get(top, top) in detail
            await pilot.press("down")
            assert heat.line_of(heat.cursor) == 1
            await pilot.press("pagedown", "pagedown")
            assert heat.line_of(heat.cursor) > 10
            assert heat.scroll_offset.y > 0  # the cursor's line was scrolled into view

            # Typed text, then text the model cannot read, then back to the first text.
            await pilot.press("t")
            assert screen.query_one("#inside-input", Input).has_focus
            await pilot.press(*"to be", "enter")
            await wait_for(pilot, lambda: screen.result.surprise.text == "to be", what="the typed text")
            assert heat.text == "to be" and heat.has_focus
            await pilot.press("t", "ctrl+u", *"snow \u2603", "enter")
            await wait_for(pilot, lambda: not screen.busy, what="the refusal")
            assert "never saw" in str(screen.query_one("#inside-info", Static).render())
            await pilot.press("escape")  # leaves the input
            assert heat.has_focus
            await pilot.press("v")
            await wait_for(pilot, lambda: screen.result.surprise.text == text, what="the first text again")
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, SurpriseScreen)

    run(main())


def test_cells_screen_moves_and_finds(trained) -> None:
    model, vocab, text = trained
    trace = record_cells(model, vocab, text)
    ranking = rank_cells(trace.states, trace.text, top=3)
    first = next(name for name, m in ranking.items() if m)

    async def main() -> None:
        screen = CellsScreen(model, vocab, text, "tiny model")
        app = ScreenHost(screen)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: screen.result is not None, what="the cells to be recorded")
            await pilot.pause()
            assert torch.equal(screen.result.states, trace.states)
            for part in ("#inside-text", "#inside-side", "#inside-input"):
                assert fits(screen, part), part
            keys = {b.binding.key for b in screen.active_bindings.values() if b.binding.show}
            assert {"n", "p", "l", "f", "s", "t", "escape"} <= keys
            assert (screen.layer_index, screen.cell_index) == (0, 0)
            await pilot.press("n", "n", "p")
            assert screen.cell_index == 1
            await pilot.press("l")
            assert screen.layer_index == 1
            info = str(screen.query_one("#inside-info", Static).render())
            assert "layer 2/2" in info and "cell 1/15" in info and "LSTM cell state c" in info
            heat = screen.query_one(CharHeat)
            await pilot.press("right")
            detail = str(screen.query_one("#inside-detail", Static).render())
            assert f"c = {float(trace.states[1, heat.cursor, 1]):+.3f}" in detail
            legend = str(screen.query_one("#inside-legend", Static).render())
            scale = float(trace.states[1, :, 1].abs().max())
            assert f"{-scale:+.2f}" in legend and f"{scale:+.2f}" in legend

            await pilot.press("f")
            await wait_for(pilot, lambda: screen.found is not None, what="find")
            best = ranking[first][0]
            assert screen.found[0] == first
            assert (screen.layer_index, screen.cell_index) == (best.layer, best.cell)
            info = str(screen.query_one("#inside-info", Static).render())
            assert f"tracks '{first}' best, r = {best.r:+.2f}" in info
            await pilot.press("f")  # the next property
            assert screen.found[0] != first or sum(1 for m in ranking.values() if m) == 1
            # The command palette finds the same actions.
            await pilot.press("ctrl+p")
            await pilot.pause()
            await pilot.press(*"next layer")
            await pilot.pause(0.5)
            layer = screen.layer_index
            await pilot.press("enter")
            await pilot.pause()
            assert screen.layer_index == (layer + 1) % 2

    run(main())


def test_reachable_from_generation_and_between_each_other(trained, make_app) -> None:
    model, vocab, _ = trained

    async def main() -> None:
        gen = GenerationScreen(model, vocab, "HAMLET\nTo be, or not", "tiny model")
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await app.push_screen(gen)
            await pilot.pause()
            await pilot.press("ctrl+o")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, SurpriseScreen)
            await wait_for(pilot, lambda: screen.result is not None, what="scoring the prime")
            assert screen.result.surprise.text == "HAMLET\nTo be, or not"
            await pilot.press("c")
            await pilot.pause()
            cells = app.screen
            assert isinstance(cells, CellsScreen)
            await wait_for(pilot, lambda: cells.result is not None, what="the cells")
            assert cells.result.text == "HAMLET\nTo be, or not"
            await pilot.press("s")
            await pilot.pause()
            assert isinstance(app.screen, SurpriseScreen)
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is gen

    run(main())


def test_hostile_text_never_reaches_the_terminal_as_control_codes(trained) -> None:
    """Corpus text is untrusted: ESC, OSC, BEL and C1 controls show as visible stand-ins."""
    assert safe_char("\x1b") == "\u241b" and safe_char("\x07") == "\u2407" and safe_char("\t") == "\u2409"
    assert safe_char("\x9b") == "?" and safe_char("\x7f") == "?"
    assert safe_char("\u200d") == "\u25cc" and safe_char("\u0301") == "\u25cc"
    assert safe_char("é") == "é" and safe_char("漢") == "漢" and safe_char("\u00a0") == " "
    hostile = "ok\x1b]0;pwned\x07 \x9b31m red\x1b[2J\nnext\u200dline"

    class Pane(App):
        def compose(self):
            yield CharHeat()

    async def main() -> None:
        app = Pane()
        async with app.run_test(size=(40, 10)) as pilot:
            heat = app.query_one(CharHeat)
            heat.set_text(hostile, [None] * len(hostile))
            await pilot.pause()
            drawn = "".join(seg.text for y in range(4) for seg in heat.render_line(y))
            assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in drawn)
            assert "\u241b]0;pwned\u2407" in drawn and "line" in drawn

    run(main())
