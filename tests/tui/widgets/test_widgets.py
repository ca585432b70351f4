"""The sample panel's alignment, the heat map's lines and cursor, and the app's promise to paint without
importing torch."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from rich.cells import cell_len
from rich.console import Console
from tui_helpers import WidgetHost

from charrnn_tui.core.events import Sample
from charrnn_tui.tui.widgets.char_heat import CharHeat, safe_char, wrap_starts
from charrnn_tui.tui.widgets.loss_plot import downsample, step_ticks
from charrnn_tui.tui.widgets.sample_panel import SampleView


def render(sample: Sample, width: int = 40) -> list[str]:
    console = Console(width=width, color_system=None, legacy_windows=False)
    with console.capture() as cap:
        console.print(SampleView([sample]))
    return cap.get().splitlines()


def test_wide_characters_stay_aligned() -> None:
    # Korean is two cells wide; the target is the input shifted by one, so wide and narrow characters
    # meet in the same column and the narrow one must be padded.
    lines = render(Sample(7, "가b", "b다", "b라"))
    assert lines[1:] == ["input  가b ", "target b 다", "guess  b 라"]


def test_long_windows_wrap_in_aligned_chunks() -> None:
    text = "To be, or not to be: that is the question 🙂 これは"
    lines = render(Sample(1, text[:-1], text[1:], text[1:]), width=30)[1:]
    assert len(lines) % 3 == 0 and len(lines) > 3
    from rich.cells import cell_len

    for i in range(0, len(lines), 3):
        widths = {cell_len(line.rstrip("\n")) for line in lines[i : i + 3]}
        assert len(widths) == 1, lines[i : i + 3]


def test_whitespace_is_visible() -> None:
    lines = render(Sample(1, "a b\n", " b\nc", " b\nc"))
    assert lines[1] == "input  a·b↵"


def test_downsample_keeps_ends_and_bounds_points() -> None:
    points = [(i, float(i)) for i in range(1, 10_001)]
    out = downsample(points, 200)
    assert len(out) == 200 and out[-1][0] == 10_000
    assert downsample(points[:5], 200) == points[:5]
    assert step_ticks(400) == [0, 100, 200, 300, 400]


def test_the_app_module_does_not_import_torch() -> None:
    code = "import sys, charrnn_tui.tui.app; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_generated_text_wraps_streams_and_clears() -> None:
    from charrnn_tui.generation.tokens import Token
    from charrnn_tui.tui.widgets.generated_text import GeneratedText

    line = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer"
    text = "\n".join(f"{i} {line}" for i in range(60))  # 60 lines of 86-87 characters

    async def main() -> None:
        app = WidgetHost(GeneratedText)
        async with app.run_test(size=(44, 12)) as pilot:
            pane = app.query_one(GeneratedText)
            pane.add_prime("HAMLET\n")
            for start in range(0, len(text), 97):  # streamed in frames, lines split across them
                pane.add_tokens(Token(c, 0.9 if c != "x" else 0.1, ()) for c in text[start : start + 97])
            await pilot.pause()
            assert pane.plain == "HAMLET\n" + text
            assert pane.n_chars == len(text)
            width, height = pane.scrollable_content_region.size
            assert width < 44  # the scrollbar's gutter is kept
            rows = pane.virtual_size.height
            assert rows == 1 + 60 * 3  # the prime's line, then every line wrapped into 3 rows
            assert pane.scroll_offset.y == rows - height  # following the end
            shown = [pane.render_line(y).text.rstrip() for y in range(height)]
            assert shown[-1].endswith("to suffer") and all(len(row) <= width for row in shown)
            await pilot.resize_terminal(104, 12)  # wider: re-wrapped into 1 row per line
            await pilot.pause()
            assert pane.virtual_size.height == 1 + 60 and pane.plain == "HAMLET\n" + text
            pane.clear()
            await pilot.pause()
            assert pane.plain == "" and pane.n_chars == 0 and pane.virtual_size.height <= 1

    asyncio.run(main())


# ---- the heat map's text: wrapped at spaces by cell width (issue 26 item 9) ---------------------------------
MIXED = "가나다 Char-RNN 라마 to be, or not 바사아자차카타파하"  # wide, Latin and a run longer than a line


def heat_lines(text: str, width: int) -> list[str]:
    glyphs = [safe_char(c) if c != "\n" else "\n" for c in text]
    starts = wrap_starts(glyphs, [cell_len(g) for g in glyphs], width)
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def test_heat_text_breaks_at_spaces_by_cell_width() -> None:
    lines = heat_lines(MIXED, 12)
    assert lines == ["가나다 ", "Char-RNN ", "라마 to be, ", "or not ", "바사아자차카", "타파하"]
    assert all(cell_len(line) <= 12 for line in lines)
    # Every character is on exactly one line, in order; a newline ends its line; a word longer than the line,
    # and a two-cell character that would pass the edge, are cut before it.
    assert heat_lines("ab\ncd efgh", 4) == ["ab\n", "cd ", "efgh"]
    assert heat_lines("abcdefghij", 4) == ["abcd", "efgh", "ij"]
    assert heat_lines("abc가", 4) == ["abc", "가"]
    assert heat_lines("e\u0301 x", 3) == ["e\u0301 ", "x"]  # the mark keeps a cell of its own ("◌")


def test_heat_cursor_keeps_its_character_and_its_column_over_wide_characters() -> None:
    async def main() -> None:
        app = WidgetHost(CharHeat)
        async with app.run_test(size=(14, 8)) as pilot:
            heat = app.query_one(CharHeat)
            heat.set_text(MIXED, [None] * len(MIXED))
            await pilot.pause()
            assert heat.scrollable_content_region.width == 12  # the gutter of the scrollbar is kept
            drawn = ["".join(seg.text for seg in heat.render_line(y)).rstrip() for y in range(6)]
            assert drawn == ["가나다", "Char-RNN", "라마 to be,", "or not", "바사아자차카", "타파하"]
            heat.move_to(MIXED.index("-"))
            assert heat.cell_of(heat.cursor) == (4, 1)
            await pilot.press("up")  # cell 4 of line 0 is the second half of 다
            assert MIXED[heat.cursor] == "다"
            await pilot.press("down", "down")  # cell 4 of "라마 to be," is the space
            assert heat.cell_of(heat.cursor) == (4, 2) and MIXED[heat.cursor] == " "
            await pilot.press("down", "down")  # cell 4 of "바사아자차카" is 아, the third character
            assert MIXED[heat.cursor] == "아"
            cursor = next(seg for seg in heat.render_line(4) if seg.style and seg.style.reverse)
            assert cursor.text == "아"  # the character under the cursor is the one drawn reversed

    asyncio.run(main())


def test_generated_text_wraps_mixed_korean_and_latin_at_spaces() -> None:
    from charrnn_tui.generation.tokens import Token
    from charrnn_tui.tui.widgets.generated_text import GeneratedText

    async def main() -> None:
        app = WidgetHost(GeneratedText)
        async with app.run_test(size=(14, 8)) as pilot:
            pane = app.query_one(GeneratedText)
            pane.add_tokens(Token(c, 0.9, ()) for c in MIXED)
            await pilot.pause()
            assert pane.scrollable_content_region.width == 12
            rows = [pane.render_line(y).text.rstrip() for y in range(6)]
            assert rows == ["가나다", "Char-RNN", "라마 to be,", "or not", "바사아자차카", "타파하"]

    asyncio.run(main())
