"""The Surprise and Cells screens at 80x24, on a tiny model trained here, driven by the keyboard."""

from __future__ import annotations

import threading

import pytest
import torch
from textual import events
from textual.widgets import Input, Static
from tui_helpers import ScreenHost, WidgetHost, run, wait_for

from charrnn_tui.inside.inspection import rank_cells, record_cells, surprise
from charrnn_tui.model.charrnn import CharRNN
from charrnn_tui.text.corpus import load_builtin
from charrnn_tui.text.vocab import Vocab
from charrnn_tui.training.trainer import Trainer
from charrnn_tui.tui.screens.generation import GenerationScreen
from charrnn_tui.tui.screens.inside.cells import CellsScreen
from charrnn_tui.tui.screens.inside.surprise import SurpriseScreen
from charrnn_tui.tui.widgets.char_heat import CharHeat, safe_char
from charrnn_tui.tui.widgets.prime_input import PrimeInput

SIZE = (80, 24)
HAMLET = load_builtin("hamlet").text


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

    async def main() -> None:
        app = WidgetHost(CharHeat)
        async with app.run_test(size=(40, 10)) as pilot:
            heat = app.query_one(CharHeat)
            heat.set_text(hostile, [None] * len(hostile))
            await pilot.pause()
            drawn = "".join(seg.text for y in range(4) for seg in heat.render_line(y))
            assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in drawn)
            assert "\u241b]0;pwned\u2407" in drawn and "line" in drawn

    run(main())


# ---- progress, Esc cancels, the text field takes any paste (issue 26) ---------------------------------


class GatedRNN(CharRNN):
    """A real CharRNN whose forward passes each wait for a permit from the test, so that the test can hold the
    worker mid-way and see what the screen says meanwhile. `calls` counts the passes begun."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.permits = threading.Semaphore(0)
        self.calls = 0

    def forward(self, x, state=None):
        self.calls += 1
        assert self.permits.acquire(timeout=30), "the test never let this pass run"
        return super().forward(x, state)

    def inputs(self, x):
        if x.shape[0] == 1 and x.shape[1] > 1 and not torch.is_grad_enabled():  # record_cells' one call
            self.calls += 1
            assert self.permits.acquire(timeout=30), "the test never let the recording start"
        return super().inputs(x)


def untrained(cls=CharRNN):
    vocab = Vocab.from_text(HAMLET)
    torch.manual_seed(0)
    return cls(len(vocab), "lstm", 2, 16, 8).eval(), vocab


def info_of(screen) -> str:
    return str(screen.query_one("#inside-info", Static).render())


def test_surprise_shows_progress_and_esc_stops_the_work() -> None:
    model, vocab = untrained(GatedRNN)
    text = HAMLET[5000:8001]  # 3,000 predictions: 5 parts side by side, a warm-up pass then 3 windows

    async def main() -> None:
        screen = SurpriseScreen(model, vocab, text, "gated")
        app = ScreenHost(screen)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: "3,001 characters" in info_of(screen), what="the first line")
            assert "Esc cancels" in info_of(screen)
            model.permits.release(2)  # the warm-up and the first window: 5 x 256 characters scored
            await wait_for(pilot, lambda: "1,280 / 3,000" in info_of(screen), what="the progress line")
            assert "scoring 1,280 / 3,000 predictions (42 %) - Esc cancels" in info_of(screen)
            await wait_for(pilot, lambda: model.calls == 3, what="the worker in its third pass")
            await pilot.press("escape")
            assert "cancelled" in info_of(screen) and not screen.busy
            assert app.screen is screen  # the first Esc cancels; the screen stays
            model.permits.release(10)
            await wait_for(pilot, lambda: all(w.is_finished for w in app.workers), what="the worker to end")
            assert model.calls == 3  # it stopped after the pass it was in: the work, not just the view
            await pilot.pause()
            assert screen.result is None and "cancelled" in info_of(screen)
            await pilot.press("escape")  # the second goes back
            await pilot.pause()
            assert app.screen is not screen

    run(main())


def test_cells_recording_stops_on_esc_and_says_where_it_is() -> None:
    model, vocab = untrained(GatedRNN)

    async def main() -> None:
        screen = CellsScreen(model, vocab, HAMLET[:600], "gated")
        app = ScreenHost(screen)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: model.calls == 1, what="the recording to start")
            line = screen.progress_line("compute", 856, 1200)
            assert line == "recording every cell: layer 2/2, 256 / 600 characters (71 %) - Esc cancels"
            await pilot.press("escape")
            assert "cancelled" in info_of(screen)
            model.permits.release(5)
            await wait_for(pilot, lambda: all(w.is_finished for w in app.workers), what="the worker to end")
            await pilot.pause()
            assert screen.result is None and "cancelled" in info_of(screen) and app.screen is screen

    run(main())


def test_a_multi_line_paste_into_the_field_is_all_scored() -> None:
    model, vocab = untrained()
    pasted = HAMLET[9000:11500]  # 2,500 characters over dozens of lines: more than the field shows

    async def main() -> None:
        screen = SurpriseScreen(model, vocab, "", "untrained")
        app = ScreenHost(screen)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("t")
            field = screen.query_one("#inside-input", Input)
            assert isinstance(field, PrimeInput) and field.has_focus
            field.post_message(events.Paste(pasted.replace("\n", "\r\n")))  # as a terminal pastes it
            await pilot.pause()
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen.result is not None, what="the pasted text scored")
            assert screen.result.surprise.text == pasted and pasted.count("\n") > 30
            assert f"{len(pasted) - 1:,} predictions over {len(pasted):,} characters" in info_of(screen)

    run(main())
