"""The generation pane: the prime, then each generated character coloured by the model's confidence."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from charrnn_tui.tui.widgets.sample_panel import visible

if TYPE_CHECKING:
    from charrnn_tui.generate import Token  # generate.py imports torch; the app must paint without it

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


def shown(ch: str) -> str:
    return ch if ch in "\n\t" else visible(ch) if ch != " " else " "


class GeneratedText(Static):
    """Keeps the text as runs of (text, style); neighbours of one style merge, so a long stream stays a
    handful of spans and a redraw stays cheap."""

    DEFAULT_CSS = """
    GeneratedText { height: auto; width: 1fr; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(markup=False, **kwargs)
        self.runs: list[list[str]] = []
        self.n_chars = 0

    def clear(self) -> None:
        self.runs.clear()
        self.n_chars = 0
        self._redraw()

    def _add(self, text: str, style: str) -> None:
        if self.runs and self.runs[-1][1] == style:
            self.runs[-1][0] += text
        else:
            self.runs.append([text, style])

    def add_prime(self, text: str) -> None:
        self._add("".join(shown(c) for c in text), PRIME_STYLE)
        self._redraw()

    def add_tokens(self, tokens: Iterable[Token]) -> None:
        for tok in tokens:
            self._add(shown(tok.char), confidence_style(tok.prob))
            self.n_chars += 1
        self._redraw()

    @property
    def plain(self) -> str:
        return "".join(t for t, _ in self.runs)

    def _redraw(self) -> None:
        text = Text()
        for t, style in self.runs:
            text.append(t, style)
        self.update(text)


def candidates_text(token: Token | None) -> Text:
    """The model's top guesses at the last step, as a small bar chart."""
    out = Text()
    if token is None:
        out.append("Generate to see the model's\ntop guesses at each step.", style="dim")
        return out
    for ch, p in token.top:
        label = {"\n": "↵", " ": "␣", "\t": "→"}.get(ch, visible(ch))
        mark = "▶ " if ch == token.char else "  "
        out.append(f"{mark}{label} ", style="bold")
        out.append(f"{100 * p:5.1f}% ", style=confidence_style(p))
        out.append("█" * max(1, round(p * 16)), style=confidence_style(p))
        out.append("\n")
    out.rstrip()
    return out


def legend_text() -> Text:
    out = Text("confidence: ", style="dim")
    names = (">80%", ">50%", ">20%", ">5%", "<5%")
    for (_, style), name in zip(CONFIDENCE, names, strict=True):
        out.append(f"{name} ", style=style)
    return out
