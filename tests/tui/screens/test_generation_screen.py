"""The generation screen: columns of continuations, the candidates' bars, fresh weights, and 80x24."""

from __future__ import annotations

import torch
from rich.cells import cell_len
from textual import on
from textual.widgets import Input, Static
from tui_helpers import run, wait_for

from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.generation.tokens import Token
from charrnn_tui.model.charrnn import CharRNN
from charrnn_tui.text.vocab import Vocab
from charrnn_tui.tui.app import CharRNNApp
from charrnn_tui.tui.screens.generation import GenerationScreen, parse_temperatures
from charrnn_tui.tui.widgets.generated_text import GeneratedText, bar, candidates_text, legend_text, word_lines

VOCAB = Vocab.from_text("abcdefghij HAMLET\n")


def model(seed: int) -> CharRNN:
    torch.manual_seed(seed)
    return CharRNN(len(VOCAB), "lstm", 1, 32, 8).eval()


def visible_region(widget) -> bool:
    r, screen = widget.region, widget.screen.region
    return r.width > 0 and r.height > 0 and screen.contains_region(r)


# ---- the candidates' bars --------------------------------------------------------------------------------
def test_bars_fit_their_width_and_zero_draws_nothing():
    assert bar(1.0, 10) == "█" * 10
    assert bar(0.999, 10) == "█" * 10  # rounds to the width, never past it
    assert bar(0.0, 10) == "" and bar(0.004, 10) == ""
    assert bar(0.5, 3) == "█▌"
    for width in (20, 26, 40):
        top = (("a", 0.998), ("b", 1.0), ("c", 0.0), ("\n", 0.5), ("가", 0.9996))
        lines = candidates_text(Token("a", 0.998, top), width).plain.split("\n")
        assert len(lines) == 5
        assert all(cell_len(line) <= width for line in lines), lines
        assert "█" not in lines[2] and "0.0%" in lines[2]


def test_the_empty_candidates_panel_says_what_it_is_for_without_a_wrap():
    # The panel is 26 cells wide inside its border; a longer line wrapped "model's" onto a line of its own.
    lines = candidates_text(None).plain.split("\n")
    assert "top guesses" in " ".join(lines) and len(lines) <= 5
    assert all(cell_len(line) <= 26 for line in lines), lines


def test_candidates_panel_keeps_five_rows_at_100_percent(make_app):
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            screen = GenerationScreen(None, VOCAB, "HAMLET\n", "test")
            await app.push_screen(screen)
            await pilot.pause()
            top = (("a", 0.9995), ("b", 0.0004), ("c", 0.0001), ("d", 0.0), ("e", 0.0))
            screen.show_tokens("ab", [Token("a", 0.9995, top)] * 3)
            await pilot.pause(0.3)
            cand = screen.query_one("#candidates", Static)
            lines = cand.visual.plain.split("\n")
            assert len(lines) == 5 and all(cell_len(line) <= cand.content_region.width for line in lines)
            assert lines[0].startswith("▶ a 100.0% ") and lines[0].endswith("█")
            assert "█" not in "".join(lines[3:])

    run(main())


# ---- columns ---------------------------------------------------------------------------------------------
def test_temperatures_parse():
    assert parse_temperatures("0.8", 4) == [0.8] * 4
    assert parse_temperatures("0, 0.5 0.8,1.2", 4) == [0, 0.5, 0.8, 1.2]
    for bad in ("0.5 1", "x", "-1", "nan"):
        try:
            parse_temperatures(bad, 4)
        except (ValueError, CharRNNError):  # not a number or a wrong count; a value out of range
            continue
        raise AssertionError(bad)


def test_columns_stream_continuations_side_by_side_at_80x24(make_app):
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            screen = GenerationScreen(model(0), VOCAB, "HAMLET\n", "test", seed=3, step=40)
            await app.push_screen(screen)
            await pilot.pause()
            for name in ("#prime", "#length", "#temperature", "#top-k", "#gen-status", "#gen-pane-0", "#gen-weights"):
                assert visible_region(screen.query_one(name)), name
            assert screen.query_one("#prime").region.width >= 20
            assert "weights of step 40" in screen.query_one("#gen-weights", Static).visual.plain

            await pilot.press("ctrl+l")  # 2 columns
            screen.query_one("#length", Input).value = "80"
            screen.query_one("#temperature", Input).value = "0"
            await pilot.press(*"HA", "enter")
            await wait_for(pilot, lambda: not screen.generating, what="generation")
            await pilot.pause(0.3)
            a, b = screen.panes[:2]
            assert a.display and b.display and not screen.panes[2].display
            assert a.region.width >= 30 and a.region.y == b.region.y and a.region.x < b.region.x
            assert a.n_chars == b.n_chars == 80 and a.plain == b.plain  # argmax: the same text
            assert a.border_title == b.border_title == "temperature 0"

            await pilot.press("ctrl+l")  # 4 columns: 2 x 2 below 120 wide
            screen.query_one("#temperature", Input).value = "0 0.5 1 1.5"
            await pilot.press("enter")
            await wait_for(pilot, lambda: not screen.generating, what="generation")
            await pilot.pause(0.3)
            panes = screen.panes
            assert [p.border_title for p in panes] == [
                "temperature 0",
                "temperature 0.5",
                "temperature 1",
                "temperature 1.5",
            ]
            assert all(p.n_chars == 80 and visible_region(p) and p.region.height >= 5 for p in panes)
            assert panes[0].region.y == panes[1].region.y < panes[2].region.y == panes[3].region.y
            assert len({p.plain for p in panes}) == 4
            assert panes[0].plain == a.plain  # the argmax column is still the single text
            await pilot.press("ctrl+n")  # continue every column
            await wait_for(pilot, lambda: not screen.generating, what="continuation")
            await pilot.pause(0.3)
            assert all(p.n_chars == 160 for p in screen.panes)

            await pilot.resize_terminal(120, 40)
            await pilot.pause()
            ys = {p.region.y for p in screen.panes}
            assert len(ys) == 1  # 4 across at 120 wide

            screen.query_one("#temperature", Input).value = "0.5 1"  # 2 values for 4 columns
            await pilot.press("enter")
            await pilot.pause()
            assert "one per column" in screen.query_one("#gen-status", Static).visual.plain

    run(main())


# ---- fresh weights -----------------------------------------------------------------------------------------
class RefreshingApp(CharRNNApp):
    """The app's side of GenerationScreen.RefreshWeights, as the real app answers it: a fresh copy."""

    asked = 0

    @on(GenerationScreen.RefreshWeights)
    def fresh_copy(self) -> None:
        self.asked += 1
        self.screen.use_weights(model(1), 60, "test, weights of step 60")


def test_f5_takes_a_fresh_copy_of_the_weights():
    async def main() -> None:
        app = RefreshingApp(test_mode=True)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = GenerationScreen(model(0), VOCAB, "HAMLET\n", "test", step=40, live=True)
            await app.push_screen(screen)
            await pilot.pause()
            line = screen.query_one("#gen-weights", Static)
            assert "weights of step 40, copied when this screen opened; F5 takes a fresh copy" in line.visual.plain
            screen.query_one("#length", Input).value = "50"
            screen.query_one("#temperature", Input).value = "0"
            await pilot.press("enter")
            await wait_for(pilot, lambda: not screen.generating, what="generation")
            before = screen.query_one(GeneratedText).plain
            await pilot.press("f5")
            await pilot.pause()
            assert app.asked == 1
            assert "weights of step 60" in line.visual.plain and screen.query_one(GeneratedText).plain == ""
            await pilot.press("enter")
            await wait_for(pilot, lambda: not screen.generating, what="generation")
            await pilot.pause(0.3)
            after = screen.query_one(GeneratedText).plain
            assert after.startswith("HAMLET") and after != before  # other weights, other argmax text

    run(main())


def test_saved_weights_offer_no_refresh(make_app):
    async def main() -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            screen = GenerationScreen(None, VOCAB, "HAMLET\n", "test", step=40)
            await app.push_screen(screen)
            await pilot.pause()
            status = screen.query_one("#gen-status", Static).visual.plain
            await pilot.press("f5")
            await pilot.pause()
            assert screen.query_one("#gen-status", Static).visual.plain == status  # nothing asked
            assert "f5" not in {b.binding.key for b in screen.active_bindings.values() if b.enabled}
            assert "weights of step 40" == screen.query_one("#gen-weights", Static).visual.plain

    run(main())


# ---- Korean and Latin in one panel (issue 26 items 8 and 9) -----------------------------------------------
def test_guesses_with_wide_and_latin_labels_line_up_and_words_stay_whole():
    top = (("다", 0.41), ("C", 0.2), ("h", 0.11), ("니", 0.06), ("é", 0.02))
    lines = candidates_text(Token("C", 0.2, top), 26).plain.split("\n")
    # One label column as wide as 다: every percentage starts in the same cell, every bar too.
    starts = {cell_len(line[: line.index("%") - 4]) for line in lines}
    assert starts == {6} and all(cell_len(line) <= 26 for line in lines), lines
    assert lines[1].startswith("▶ C  ") and lines[0].startswith("  다 ")
    for width in (12, 20, 26):  # the empty panel and the legend break between words, never inside one
        for text in (candidates_text(None, width), legend_text(width)):
            rows = text.plain.split("\n")
            assert all(cell_len(row) <= width for row in rows), rows
            assert " ".join(rows).split() == text.plain.split(), rows
    assert legend_text(26).plain == "confidence: >80% >50% >20%\n>5% <5%"
    assert word_lines(["가나다라", "Char-RNN", "x"], 9) == [["가나다라"], ["Char-RNN"], ["x"]]
