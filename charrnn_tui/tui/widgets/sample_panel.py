"""The argmax-sample panel: for one batch row, the input window, the target (the input shifted by one)
and the model's most likely next character at each position, aligned column by column."""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text
from textual.widgets import Static

from charrnn_tui.core.events import Sample
from charrnn_tui.present.safetext import escape

LABEL = "target "  # the widest row label
ROWS = ("input", "target", "guess")  # a chunk's rows
MIN_COLUMNS = 9  # cells for the columns however narrow the panel: the widest stand-in, "⟨U+202E⟩"
VISIBLE = {"\n": "↵", "\t": "→", "\r": "␍", " ": "·"}  # whitespace made visible, one cell each


def visible(ch: str) -> str:
    """One character in a column of its own, as a string whose width Rich and the terminal agree on (Rich's
    count lays the columns out; the terminal's places them): whitespace as a symbol, control characters as
    safetext shows them everywhere, and a character with no cell of its own on a dotted circle, the
    convention for showing a mark alone. Only marks that terminals draw with no width of their own (see
    `combines`) go on the circle; a zero-width character that terminals draw wider than Rich counts it (a
    spacing vowel sign, an emoji skin tone, the Hangul filler: "◌ि" is 2 cells in tmux, "◌🏽" 3, Rich says
    1) shows as the circle alone, as the heat map of the inside views shows every zero-width character."""
    if ch in VISIBLE:
        return VISIBLE[ch]
    shown = escape(ch)
    if cell_len(shown):
        return shown
    if ch == "\u200d":
        # Rich's count skips whatever follows a joiner, and a terminal may join it to the next column's emoji:
        # a zero-width space after it is what gets skipped, and ends the sequence.
        return "◌\u200d\u200b"
    return "◌" + shown if combines(shown) else "◌"


def combines(ch: str) -> bool:
    """Whether terminals (wcwidth) and Rich both give `ch` no width: nonspacing and enclosing marks
    (variation selectors included), format characters (joiners, zero-width space), and the Hangul vowel
    and final-consonant jamo of decomposed (NFD) Korean."""
    o = ord(ch)
    return unicodedata.category(ch) in ("Mn", "Me", "Cf") or 0x1160 <= o <= 0x11FF or 0xD7B0 <= o <= 0xD7FF


class SampleView:
    """Renders samples, newest first, wrapping each window into chunks that fit the width: a chunk is three
    rows (input, target, guess), each column as wide as its widest cell across them, so CJK and emoji (two
    cells) stay aligned, and a column never crosses the edge. Given a height (Textual gives the panel's),
    only whole chunks are drawn, and the newest sample's heading line gives way to its rows where both do
    not fit: three rows of a chunk, never two of them with the guess cut off (under three lines, the
    heading alone)."""

    def __init__(self, samples: Iterable[Sample]) -> None:
        self.samples = list(samples)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(options.max_width - len(LABEL), MIN_COLUMNS)
        room = options.height if options.height is not None else sys.maxsize
        lines: list[Text] = []
        for i, s in enumerate(reversed(self.samples)):
            left = room - len(lines)
            if left >= 1 + len(ROWS):
                lines.append(self._heading(s, newest=i == 0))
            elif i > 0:
                break
            elif left < len(ROWS):  # no room for a chunk: the newest sample's score alone
                lines.append(self._heading(s, newest=True))
                break
            for chunk in self._chunks(s, width):
                if room - len(lines) < len(ROWS):
                    break
                lines.extend(self._rows(chunk))
        yield Text("\n", no_wrap=True, overflow="crop").join(lines)

    @staticmethod
    def _heading(s: Sample, newest: bool) -> Text:
        correct = sum(p == t for p, t in zip(s.prediction, s.target, strict=False))
        n = max(len(s.target), 1)
        return Text.assemble(
            (f"step {s.step}", "bold" if newest else "dim"),
            (f"  {correct}/{len(s.target)} right ({100 * correct / n:.0f}%)", "dim"),
        )

    @staticmethod
    def _rows(chunk: list[Column]) -> list[Text]:
        """A chunk's three rows, each column padded to its widest cell."""
        cells = [[pad(x, col.width) for x in col.shown] for col in chunk]
        given = Text.assemble(("input  ", "dim"), "".join(a for a, _, _ in cells))
        target = Text.assemble(("target ", "dim"), ("".join(b for _, b, _ in cells), "bold"))
        guess = Text("guess  ", style="dim")
        # One span per run of right (or wrong) guesses: a few spans render far faster than one per char.
        run, run_ok = "", None
        for col, (_, _, shown) in zip(chunk, cells, strict=True):
            if run and col.right != run_ok:
                guess.append(run, style="bold green" if run_ok else "bold red")
                run = ""
            run, run_ok = run + shown, col.right
        if run:
            guess.append(run, style="bold green" if run_ok else "bold red")
        return [given, target, guess]

    @staticmethod
    def _chunks(s: Sample, width: int) -> list[list[Column]]:
        """The window's columns in chunks of at most `width` cells (a column wider than that alone)."""
        cols = [Column.of(a, b, c) for a, b, c in zip(s.input, s.target, s.prediction, strict=False)]
        chunks: list[list[Column]] = []
        chunk: list[Column] = []
        used = 0
        for col in cols:
            if chunk and used + col.width > width:
                chunks.append(chunk)
                chunk, used = [], 0
            chunk.append(col)
            used += col.width
        if chunk:
            chunks.append(chunk)
        return chunks


@dataclass(frozen=True)
class Column:
    """One position of the window: its input, target and guess as shown, the cells the widest takes, and
    whether the guess is right (compared as characters: two stand-ins can look alike)."""

    shown: tuple[str, str, str]
    width: int
    right: bool

    @classmethod
    def of(cls, given: str, target: str, guess: str) -> Column:
        shown = (visible(given), visible(target), visible(guess))
        return cls(shown, max(cell_len(x) for x in shown), guess == target)


def pad(ch: str, width: int) -> str:
    return ch + " " * (width - cell_len(ch))


class SamplePanel(Static):
    # A fixed height (older samples are cropped at the bottom) lets an update skip the screen's layout.
    DEFAULT_CSS = """
    SamplePanel { height: 1fr; }
    """

    def set_samples(self, samples: Iterable[Sample]) -> None:
        samples = list(samples)
        if samples:
            self.update(SampleView(samples), layout=False)
        else:
            self.update(Text("Waiting for the first step: the model's guesses appear here.", style="dim"), layout=False)
