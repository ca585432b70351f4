"""The argmax-sample panel keeps its three rows (input, target, guess) in columns: every column as wide as its
widest cell across the rows, starting at the same cell in each, for wide, combining and zero-width characters,
and the window cut into chunks at the panel's width without splitting a character over the edge.

Offsets are Rich's cell counts, the ones Textual lays out with; `visible` picks stand-ins whose width a
terminal agrees with (checked by hand in tmux 3.3a, see test_disputed_widths_get_an_agreed_stand_in)."""

from __future__ import annotations

import asyncio
import unicodedata

import pytest
from rich.cells import cell_len
from rich.console import Console
from textual.app import App, ComposeResult

from charrnn_tui.core.events import Sample
from charrnn_tui.tui.widgets.sample_panel import LABEL, SamplePanel, SampleView, visible

TEXTS = {
    "korean": "Char-RNN 모델은 문자 단위로 학습합니다. LSTM 셀은 긴 문맥을 기억합니다.\n" * 3,
    "latin": "HAMLET\nTo be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 2,
    "emoji": "hi 😀 there 👍🏽 ok ❤️ x 👨‍👩‍👧 family 🇰🇷 flag\t" * 3,
    "combining": "cafe\u0301 nai\u0308ve \u0915\u093f\u0924\u093e\u092c \u0e01\u0e33 "
    + unicodedata.normalize("NFD", "한국어 문장")
    + " e\u20dd \x1b[31m \u202e "
    + "\r\n",
}


def sample(text: str, step: int = 7) -> Sample:
    target = text[1:]
    # A guess unlike the target in width at many columns: the target turned by 5, every third an "e".
    turned = target[5:] + target[:5]
    guess = "".join("e" if i % 3 == 0 else ch for i, ch in enumerate(turned))
    return Sample(step=step, input=text[:-1], target=target, prediction=guess)


def columns_of(s: Sample) -> list[tuple[str, str, str]]:
    """What each position of the window shows in the three rows."""
    return [(visible(a), visible(b), visible(c)) for a, b, c in zip(s.input, s.target, s.prediction, strict=True)]


def row_columns(row: str, expected: list[str]) -> tuple[list[int], int]:
    """The cell offset where each expected column starts in `row` (after its label), and the row's width.
    Between columns there is only padding: no stand-in holds a space."""
    assert row.startswith(("input  ", "target ", "guess  ")), row
    body, i, starts = row[len(LABEL) :], 0, []
    for shown in expected:
        assert body.startswith(shown, i), (body[i:], shown)
        starts.append(cell_len(body[:i]))
        i += len(shown)
        while i < len(body) and body[i] == " ":
            i += 1
    assert i == len(body), body[i:]
    return starts, cell_len(body)


def check_aligned(lines: list[str], samples: list[Sample], width: int, padded: bool = True) -> None:
    """Every chunk of every sample in `lines` (SampleView's rendering, newest sample first) is aligned.
    `padded`: the rows keep their trailing padding (a console's text); else it was stripped."""
    rows = [line for line in lines if line.startswith(("input ", "target ", "guess "))]
    at = 0
    for s in reversed(samples):
        columns = columns_of(s)
        done = 0
        while done < len(columns):
            triple, at = rows[at : at + 3], at + 3
            assert [r[: len(LABEL)] for r in triple] == ["input  ", "target ", "guess  "], triple
            n = first_row_count(triple[0], columns[done:])
            chunk = columns[done : done + n]
            layouts = [row_columns(row, [col[r] for col in chunk]) for r, row in enumerate(triple)]
            starts = layouts[0][0]
            assert all(layout[0] == starts for layout in layouts), triple  # column k starts alike
            widths = [max(cell_len(x) for x in col) for col in chunk]
            assert starts == [sum(widths[:k]) for k in range(n)], triple  # each as wide as its widest
            if padded:  # the three rows are equally wide
                assert {layout[1] for layout in layouts} == {sum(widths)}, triple
            else:
                assert max(layout[1] for layout in layouts) <= sum(widths), triple
            assert len(LABEL) + sum(widths) <= width, triple
            if done + n < len(columns):  # a chunk ends only where the next column would not fit
                assert len(LABEL) + sum(widths) + max(cell_len(x) for x in columns[done + n]) > width
            done += n
    assert at == len(rows)


def first_row_count(row: str, columns: list[tuple[str, str, str]]) -> int:
    """How many of `columns` the input row `row` shows: as many as its text holds, padding aside."""
    body, i, n = row[len(LABEL) :], 0, 0
    while n < len(columns) and body.startswith(columns[n][0], i):
        i += len(columns[n][0])
        while i < len(body) and body[i] == " ":
            i += 1
        n += 1
    assert n > 0 and i == len(body), (body, columns[:3])
    return n


def rendered(samples: list[Sample], width: int) -> list[str]:
    console = Console(width=width, record=True, file=open("/dev/null", "w"), color_system=None)  # noqa: SIM115
    console.print(SampleView(samples))
    return console.export_text(styles=False).splitlines()


@pytest.mark.parametrize("width", [80, 41])
@pytest.mark.parametrize("kind", list(TEXTS))
def test_columns_line_up_in_a_console(kind: str, width: int) -> None:
    samples = [sample(TEXTS[kind], step=5), sample(TEXTS[kind][::-1], step=10)]
    lines = rendered(samples, width)
    assert lines[0].startswith("step 10  ") and "right (" in lines[0]  # newest first
    assert all(cell_len(line) <= width for line in lines)
    check_aligned(lines, samples, width)


def test_a_wide_character_is_never_split_over_the_edge() -> None:
    # At an odd width of Hangul columns the last column cannot half-fit: the chunk ends before it.
    text = "가나다라마바사아자차카타파하" * 4
    for width in range(16, 41):
        lines = rendered([sample(text)], width)
        check_aligned(lines, [sample(text)], width)
        assert all(cell_len(line) <= width for line in lines)


def test_disputed_widths_get_an_agreed_stand_in() -> None:
    # Marks with no width in Rich or in a terminal sit on a dotted circle: one cell either way.
    for mark in ("\u0301", "\u20dd", "\ufe0f", "\u200b", "\u1161", "\u11a8"):
        assert visible(mark) == "◌" + mark and cell_len(visible(mark)) == 1
    # Rich counts nothing for the character after a joiner ("◌\u200d👩" is 1 cell to it, 3 to tmux): the
    # joiner brings its own zero-width character to be skipped, so the next column counts in full.
    assert visible("\u200d") == "◌\u200d\u200b" and cell_len(visible("\u200d") + "👩") == 3
    # Rich gives these no width, tmux 3.3a and wcwidth one or two cells more ("◌ि" 2, "◌🏽" 3, "◌ㅤ" 3):
    # drawn with them the row would run past its neighbours in the terminal, so the circle stands alone.
    for ch in ("\u093f", "\U0001f3fd", "\u3164"):
        assert cell_len(ch) == 0 and visible(ch) == "◌"
    assert [visible(c) for c in " \n\t\r"] == ["·", "↵", "→", "␍"]
    assert visible("\x1b") == "␛" and visible("\u202e") == "⟨U+202E⟩"
    assert visible("물") == "물" and visible("😀") == "😀"


class Panel(App):
    def __init__(self, samples: list[Sample]) -> None:
        super().__init__()
        self.samples = samples

    def compose(self) -> ComposeResult:
        yield SamplePanel()

    def on_mount(self) -> None:
        self.query_one(SamplePanel).set_samples(self.samples)


@pytest.mark.parametrize("size", [(80, 24), (41, 40)])
def test_columns_line_up_in_the_app(size: tuple[int, int]) -> None:
    samples = [sample(TEXTS["korean"][:90]), sample(TEXTS["emoji"][:60], step=9)]
    lines: list[str] = []

    async def main() -> None:
        app = Panel(samples)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            panel = app.query_one(SamplePanel)
            # The widget pads every line to its width: strip that, and the rows' own padding with it.
            lines.extend(panel.render_line(y).text.rstrip() for y in range(panel.size.height))

    asyncio.run(main())
    lines = [line for line in lines if line]
    assert lines[0].startswith("step 9  ")
    check_aligned(lines, samples, size[0], padded=False)


@pytest.mark.parametrize(("height", "heading", "chunks"), [(2, True, 0), (3, False, 1), (4, True, 1), (6, True, 1)])
def test_a_short_panel_shows_whole_chunks(height: int, heading: bool, chunks: int) -> None:
    # Three rows of a chunk or none of them: never an input and a target with the guess cut off below.
    text = TEXTS["korean"][:120]
    lines: list[str] = []

    async def main() -> None:
        app = Panel([sample(text, step=3)])
        async with app.run_test(size=(60, height)) as pilot:
            await pilot.pause()
            panel = app.query_one(SamplePanel)
            assert panel.size.height == height
            lines.extend(panel.render_line(y).text.rstrip() for y in range(height))

    asyncio.run(main())
    shown = [line for line in lines if line]
    assert shown[0].startswith("step 3  ") == heading, shown
    rows = [line[: len(LABEL)] for line in shown if not line.startswith("step ")]
    assert rows == ["input  ", "target ", "guess  "] * chunks, shown
    if chunks:  # the chunk shown is the window's first, aligned
        s = sample(text, step=3)
        columns = [
            (visible(a), visible(b), visible(c)) for a, b, c in zip(s.input, s.target, s.prediction, strict=True)
        ]
        n = first_row_count(shown[-3], columns)
        starts = [row_columns(row, [col[r] for col in columns[:n]])[0] for r, row in enumerate(shown[-3:])]
        assert starts[0] == starts[1] == starts[2]
