"""The surprise view's stats line breaks only between its figures: a "·" separator never ends or starts a
line, at any width, in a Rich console and in the app itself."""

from __future__ import annotations

import asyncio
import re

import pytest
import torch
from rich.cells import cell_len
from rich.console import Console
from textual.app import App
from textual.widgets import Static

from charrnn_tui.inside.inspection import surprise
from charrnn_tui.model.charrnn import CharRNN
from charrnn_tui.text.corpus import load_builtin
from charrnn_tui.text.vocab import Vocab
from charrnn_tui.tui.screens.inside.surprise import SurpriseScreen, stats_line

TEXT = load_builtin("hamlet").text[3000:3900]


def fixed_model() -> tuple[CharRNN, Vocab]:
    vocab = Vocab.from_text(load_builtin("hamlet").text)
    torch.manual_seed(0)
    return CharRNN(len(vocab), "lstm", 2, 16, 8).eval(), vocab


@pytest.fixture(scope="module")
def scored():
    model, vocab = fixed_model()
    return {"whole": surprise(model, vocab, TEXT), "cut": surprise(model, vocab, TEXT, max_chars=500)}


def rendered(renderable, width: int) -> list[str]:
    console = Console(width=width, record=True, file=open("/dev/null", "w"), color_system=None)  # noqa: SIM115
    console.print(renderable)
    return console.export_text().splitlines()


def words(lines: list[str]) -> list[str]:
    return [w for w in " ".join(lines).split() if w != "·"]


@pytest.mark.parametrize("kind", ["whole", "cut"])
@pytest.mark.parametrize("width", [80, 60, 40, *range(20, 130, 7)])
def test_no_line_ends_or_starts_with_a_separator(scored, kind: str, width: int) -> None:
    s = scored[kind]
    lines = rendered(stats_line(s).text(width), width)
    for line in lines:
        assert not line.rstrip().endswith("·"), (width, lines)
        assert not line.lstrip().startswith("·"), (width, lines)
        assert cell_len(line) <= width, (width, lines)
    # Whole: every figure is there, in order, however it broke.
    one_line = rendered(stats_line(s).text(1000), 1000)
    assert len(one_line) == 1
    assert words(lines) == words(one_line)
    assert f"{s.n_predicted:,}" in one_line[0] and f"{s.mean_nats:.4f} nats/char" in one_line[0]
    assert ("the first 500 characters only" in one_line[0]) == (kind == "cut")


def test_the_figures_fill_lines_before_breaking(scored) -> None:
    # At 80 columns (78 inside the padding) the counts and the sum share the first line, the mean the second.
    lines = rendered(stats_line(scored["whole"]).text(78), 78)
    assert len(lines) == 2, lines
    assert re.search(r"sum [\d,]+ bits$", lines[0].rstrip()), lines
    assert lines[1].startswith("mean "), lines


class Host(App):
    def on_mount(self) -> None:
        self.animation_level = "none"
        model, vocab = fixed_model()
        self.push_screen(SurpriseScreen(model, vocab, TEXT[:500], "fixed-seed 2x16 LSTM"))


def info_lines(app: App) -> list[str]:
    info = app.screen.query_one("#inside-info", Static)
    return [info.render_line(y).text.rstrip() for y in range(info.size.height)]


def check_info(lines: list[str], width: int) -> None:
    joined = " ".join(lines)
    assert "499 predictions over 500 characters (none for the first)" in joined, lines
    assert "(one stream, state carried)" in joined, lines
    for line in lines:
        assert not line.strip().endswith("·") and not line.strip().startswith("·"), lines
        assert cell_len(line) <= width - 2, lines  # inside the line's padding, nothing cut off


@pytest.mark.parametrize("width", [80, 60])
def test_in_the_app(width: int) -> None:
    seen: dict[str, list[str]] = {}

    async def main() -> None:
        app = Host()
        async with app.run_test(size=(width, 24)) as pilot:
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            seen["before"] = info_lines(app)
            await pilot.resize_terminal(width + 37, 24)  # the breaks follow the new width
            await pilot.pause()
            await pilot.pause()
            seen["wider"] = info_lines(app)

    asyncio.run(main())
    check_info(seen["before"], width)
    check_info(seen["wider"], width + 37)
    assert len(seen["wider"]) <= len(seen["before"])
