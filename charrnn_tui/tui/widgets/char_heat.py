"""A text pane where every character has its own colour and one of them is under a cursor.

Used by the Surprise and Cells screens: a character's colour says how surprised the model was, or what one
cell's activation was after it. Texts run to tens of thousands of characters, so the text is wrapped once
per width into (start, end) spans and only the visible lines are drawn (Textual's line API).

Every character takes exactly one or two cells, so that each can be coloured and pointed at: a newline
is drawn as a coloured space at the end of its line, and characters that would not show by themselves
(controls, zero-width and combining marks) get a visible stand-in (`safe_char`).
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

CURSOR = Style(reverse=True, bold=True, underline=True)


def safe_char(ch: str) -> str:
    """What one character of untrusted text shows as in a one-cell-per-character heat map, never a control
    sequence. safetext.escape's forms agree for C0 controls (the control pictures); here every character must
    keep exactly one cell, so C1 controls show as "?" rather than a ⟨U+0085⟩ tag.

    C0 controls (but newline, which the caller lays out) become the Unicode control pictures U+2400-U+241F
    (ESC shows as "␛", tab as "␉"); DEL and the C1 controls 0x7f-0x9f become "?"; other spaces a plain space;
    characters with no cell of their own (zero-width, combining marks, other format characters) "◌".
    """
    o = ord(ch)
    if o < 0x20:
        return " " if ch == "\n" else chr(0x2400 + o)
    if 0x7F <= o <= 0x9F:
        return "?"
    if o < 0x7F:
        return ch
    category = unicodedata.category(ch)
    if category == "Zs":
        return " "
    if category[0] == "C" or category in ("Zl", "Zp", "Mn", "Me") or cell_len(ch) == 0:
        return "\u25cc"
    return ch


def wrap_starts(glyphs: Sequence[str], widths: Sequence[int], width: int) -> list[int]:
    """The first character of each display line of `glyphs` (one per character; a newline is a glyph of its own,
    "\n" or its stand-in) laid out `width` cells wide, character i taking widths[i] cells (1 or 2).

    A line breaks after a newline, and where the next character would pass `width`: after the line's last space
    when it has one, so that words stay whole (the space stays at the end of its line, drawn and pointable),
    else before that character (a word longer than the line, or text without spaces, is cut by cells). A
    two-cell character is never split. Line 0 starts at 0, so the list is never empty."""
    starts, col, after_space = [0], 0, -1
    for i, w in enumerate(widths):
        if col + w > width and col > 0:
            cut = after_space if after_space > starts[-1] else i
            starts.append(cut)
            col = sum(widths[cut:i])
            after_space = -1
        col += w
        if glyphs[i] == "\n":
            if i + 1 < len(widths):
                starts.append(i + 1)
            col, after_space = 0, -1
        elif glyphs[i] == " ":
            after_space = i + 1
    return starts


class CharHeat(ScrollView, can_focus=True):
    """The text, one style per character, and a cursor moved with the arrow keys."""

    DEFAULT_CSS = """
    CharHeat { scrollbar-gutter: stable; }
    """

    BINDINGS = [
        Binding("left", "move(-1)", "Prev char", show=False),
        Binding("right", "move(1)", "Next char", show=False),
        Binding("up", "line(-1)", "Line up", show=False),
        Binding("down", "line(1)", "Line down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "home", "Line start", show=False),
        Binding("end", "end", "Line end", show=False),
    ]

    @dataclass
    class CursorMoved(Message):
        """The cursor of `heat` moved to character `index`."""

        heat: CharHeat
        index: int

        @property
        def control(self) -> CharHeat:
            return self.heat

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.text = ""
        self._glyphs: list[str] = []
        self._widths: list[int] = []
        self._styles: Sequence[Style | None] = []
        self._starts: list[int] = [0]  # the first character of each display line
        self._width = 0
        self.cursor = 0

    # ---- content -----------------------------------------------------------------------------------
    def set_text(self, text: str, styles: Sequence[Style | None], cursor: int = 0) -> None:
        """Show `text`, character i in styles[i] (len(styles) == len(text)), the cursor on `cursor`."""
        if len(styles) != len(text):
            raise ValueError(f"{len(styles)} styles for {len(text)} characters")
        self.text = text
        self._glyphs = [safe_char(c) for c in text]
        self._widths = [cell_len(g) for g in self._glyphs]
        self._styles = styles
        self.cursor = min(max(cursor, 0), max(len(text) - 1, 0))
        self._wrap()
        self._cursor_changed()

    def restyle(self, styles: Sequence[Style | None]) -> None:
        """New colours for the same text."""
        if len(styles) != len(self.text):
            raise ValueError(f"{len(styles)} styles for {len(self.text)} characters")
        self._styles = styles
        self.refresh()

    def on_resize(self) -> None:
        width = self.scrollable_content_region.width
        if width != self._width:
            self._wrap()
            self._scroll_to_cursor()

    def _wrap(self) -> None:
        self._width = width = max(self.scrollable_content_region.width, 1)
        glyphs = ["\n" if c == "\n" else g for c, g in zip(self.text, self._glyphs, strict=True)]
        self._starts = starts = wrap_starts(glyphs, self._widths, width)
        size = Size(width, len(starts))
        if size != self.virtual_size:
            self.virtual_size = size
        self.refresh()

    def line_of(self, index: int) -> int:
        """The display line that character `index` is drawn on."""
        return bisect_right(self._starts, index) - 1

    def cell_of(self, index: int) -> tuple[int, int]:
        """(cell column, display line) where character `index` starts, counted in the text (no scrolling)."""
        line = self.line_of(index)
        return sum(self._widths[self._starts[line] : index]), line

    def index_at(self, x: int, line: int) -> int:
        """The character drawn at cell column `x` of display line `line` (the half of a two-cell one included;
        past the line's end, its last character)."""
        start, end = self._line_span(min(max(line, 0), len(self._starts) - 1))
        col = 0
        for i in range(start, end):
            col += self._widths[i]
            if x < col:
                return i
        return max(end - 1, start)

    def _line_span(self, line: int) -> tuple[int, int]:
        start = self._starts[line]
        end = self._starts[line + 1] if line + 1 < len(self._starts) else len(self.text)
        return start, end

    # ---- drawing -------------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        line = scroll_y + y
        if not self.text or line >= len(self._starts):
            return Strip.blank(width, self.rich_style)
        start, end = self._line_span(line)
        segments: list[Segment] = []
        run_style: Style | None = None
        run: list[str] = []
        for i in range(start, end):
            style = self._styles[i]
            if i == self.cursor:
                style = (style or Style()) + CURSOR
            if style != run_style and run:
                segments.append(Segment("".join(run), run_style))
                run = []
            run_style = style
            run.append(self._glyphs[i])
        if run:
            segments.append(Segment("".join(run), run_style))
        strip = Strip(segments)
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    # ---- the cursor ----------------------------------------------------------------------------------
    def move_to(self, index: int) -> None:
        if not self.text:
            return
        index = min(max(index, 0), len(self.text) - 1)
        if index != self.cursor:
            self.cursor = index
            self._cursor_changed()

    def _cursor_changed(self) -> None:
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.CursorMoved(self, self.cursor))

    def _scroll_to_cursor(self) -> None:
        if not self.text:
            return
        line, height = self.line_of(self.cursor), max(self.scrollable_content_region.height, 1)
        top = self.scroll_offset.y
        if line < top:
            self.scroll_to(y=line, animate=False, immediate=True)
        elif line >= top + height:
            self.scroll_to(y=line - height + 1, animate=False, immediate=True)

    def action_move(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_line(self, delta: int) -> None:
        line = self.line_of(self.cursor)
        target = min(max(line + delta, 0), len(self._starts) - 1)
        if target == line:
            return
        # The same cell column, not the same count of characters: lines of two-cell characters stay under it.
        self.move_to(self.index_at(self.cell_of(self.cursor)[0], target))

    def action_page(self, direction: int) -> None:
        self.action_line(direction * max(self.scrollable_content_region.height - 1, 1))

    def action_home(self) -> None:
        self.move_to(self._starts[self.line_of(self.cursor)])

    def action_end(self) -> None:
        start, end = self._line_span(self.line_of(self.cursor))
        self.move_to(max(end - 1, start))
