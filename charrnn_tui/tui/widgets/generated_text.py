"""The generation pane: the prime, then each generated character coloured by the model's confidence."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from charrnn_tui.present.safetext import escape
from charrnn_tui.tui.widgets.sample_panel import visible

if TYPE_CHECKING:
    from charrnn_tui.generation.tokens import Token  # generate.py imports torch; the app must paint without it

# (lowest probability, style): how sure the model was of the character it drew.
CONFIDENCE = (
    (0.8, "#56d364"),
    (0.5, "#a5d6a7"),
    (0.2, "#e3b341"),
    (0.05, "#f0883e"),
    (0.0, "#f85149"),
)
PRIME_STYLE = "bold underline"


def confidence_style(prob: float) -> str:
    for floor, style in CONFIDENCE:
        if prob >= floor:
            return style
    return CONFIDENCE[-1][1]


def shown(text: str) -> str:
    """Text as the CLI prints it to a terminal: control characters visible, joiners and marks intact."""
    return escape(text)


class GeneratedText(ScrollView):
    """The prime and the generated text, each character coloured by the model's confidence.

    Streaming appends a few dozen characters a frame to texts of up to 100,000. A widget that renders
    its whole text per frame (a Static) costs more per frame as the text grows, and its frames hold the
    GIL that the generator's thread needs: 20,000 characters streamed at ~100 chars/s where the CLI does
    ~1,500. So the text is kept as wrapped display lines: finished lines are wrapped once, only the line
    being written is wrapped again per frame, and only the visible lines are drawn (Textual's line API).
    """

    DEFAULT_CSS = """
    GeneratedText { scrollbar-gutter: stable; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.n_chars = 0  # generated characters (the prime is not counted)
        self._done: list[Text] = []  # finished lines
        self._done_strips: list[Strip] = []  # ... wrapped at self._width
        self._line = Text()  # the line being written
        self._line_strips: list[Strip] = []
        self._width = 0

    def _wrap(self, line: Text) -> list[Strip]:
        if self._width <= 0:
            return []
        console = self.app.console
        lines = console.render_lines(line, console.options.update_width(self._width), pad=False)
        return [Strip(segments) for segments in lines] or [Strip.blank(0)]

    def _add(self, text: str, style: str) -> None:
        for i, part in enumerate(text.split("\n")):
            if i:
                self._done.append(self._line)
                self._done_strips.extend(self._wrap(self._line))
                self._line = Text()
            if part:
                self._line.append(part, style)

    def _show(self) -> None:
        self._line_strips = self._wrap(self._line)
        size = Size(self._width, len(self._done_strips) + len(self._line_strips))
        if size != self.virtual_size:  # a layout reactive: setting it, even unchanged, lays out the screen
            self.virtual_size = size
        self.refresh()
        self.scroll_end(animate=False, immediate=False, x_axis=False)

    def on_resize(self) -> None:
        width = self.scrollable_content_region.width
        if width != self._width:
            self._width = width
            self._done_strips = [strip for line in self._done for strip in self._wrap(line)]
            self._show()

    def clear(self) -> None:
        self._done.clear()
        self._done_strips.clear()
        self._line = Text()
        self.n_chars = 0
        self._show()

    def add_prime(self, text: str) -> None:
        self._add(shown(text), PRIME_STYLE)
        self._show()

    def add_tokens(self, tokens: Iterable[Token]) -> None:
        for tok in tokens:
            self._add(shown(tok.char), confidence_style(tok.prob))
            self.n_chars += 1
        self._show()

    @property
    def plain(self) -> str:
        return "\n".join(line.plain for line in [*self._done, self._line])

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        i = scroll_y + y
        n_done = len(self._done_strips)
        if i < n_done:
            strip = self._done_strips[i]
        elif i - n_done < len(self._line_strips):
            strip = self._line_strips[i - n_done]
        else:
            return Strip.blank(width, self.rich_style)
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style).apply_style(self.rich_style)


EIGHTHS = " ▏▎▍▌▋▊▉"  # a bar's last cell, in eighths of a block


def bar(p: float, cells: int) -> str:
    """p (0..1) of `cells` cells as a bar of block characters, to an eighth of a cell: exactly `cells`
    at 1, nothing at 0 (a rounding that never overflows its width)."""
    eighths = round(min(max(p, 0.0), 1.0) * cells * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + (EIGHTHS[part] if part else "")


def word_lines(words: list[str], width: int) -> list[list[str]]:
    """`words` in lines at most `width` cells wide (rich's cell_len: two for a wide character), broken only
    between words; a word wider than the line has a line of its own."""
    lines: list[list[str]] = [[]]
    used = 0
    for word in words:
        need = cell_len(word) + (1 if lines[-1] else 0)
        if lines[-1] and used + need > width:
            lines.append([])
            used, need = 0, cell_len(word)
        lines[-1].append(word)
        used += need
    return lines


def candidates_text(token: Token | None, width: int = 26) -> Text:
    """The model's top guesses at the last step, as a small bar chart `width` cells wide (no line wraps): one
    column of labels as wide as the widest (a two-cell character's), so the percentages and bars line up."""
    out = Text()
    if token is None:
        words = "Generate to see the model's top guesses at each step.".split()
        out.append("\n".join(" ".join(line) for line in word_lines(words, width)), style="dim")
        return out
    labels = [{"\n": "↵", " ": "␣", "\t": "→"}.get(ch, visible(ch)) for ch, _ in token.top]
    label_cells = max((cell_len(label) for label in labels), default=1)
    for (ch, p), label in zip(token.top, labels, strict=True):
        mark = "▶ " if ch == token.char else "  "
        head = Text(f"{mark}{label}{' ' * (label_cells - cell_len(label))} ", style="bold")
        head.append(f"{100 * p:5.1f}% ", style=confidence_style(p))
        out.append_text(head)
        out.append(bar(p, max(0, width - head.cell_len)), style=confidence_style(p))
        out.append("\n")
    out.rstrip()
    return out


def legend_text(width: int = 26) -> Text:
    """The confidence colours, "confidence: >80% >50% ..." in lines at most `width` cells wide, each level whole."""
    names = (">80%", ">50%", ">20%", ">5%", "<5%")
    styles = {name: style for (_, style), name in zip(CONFIDENCE, names, strict=True)}
    out = Text()
    for i, line in enumerate(word_lines(["confidence:", *names], width)):
        if i:
            out.append("\n")
        for k, word in enumerate(line):
            out.append(" " * bool(k) + word, style=styles.get(word, "dim"))
    return out
