"""The argmax-sample panel: for one batch row, the input window, the target (the input shifted by one)
and the model's most likely next character at each position, aligned column by column."""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text
from textual.widgets import Static

from charrnn_tui.core.events import Sample
from charrnn_tui.present.safetext import escape

LABEL = "target "  # the widest row label
VISIBLE = {"\n": "↵", "\t": "→", "\r": "␍", " ": "·"}  # whitespace made visible, one cell each


def visible(ch: str) -> str:
    """One character in a column of its own: whitespace as a symbol, control characters as safetext shows
    them everywhere, and a character with no cell of its own (a combining mark, a joiner) on a dotted
    circle, the convention for showing a mark alone."""
    if ch in VISIBLE:
        return VISIBLE[ch]
    shown = escape(ch)
    return shown if cell_len(shown) else "◌" + shown


class SampleView:
    """Renders samples, wrapping each window into chunks that fit the width. Each column is as wide as
    its widest character across the three rows, so CJK and emoji (two cells) stay aligned."""

    def __init__(self, samples: Iterable[Sample]) -> None:
        self.samples = list(samples)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(options.max_width - len(LABEL), 8)
        out = Text(no_wrap=True, overflow="crop")
        for i, s in enumerate(reversed(self.samples)):  # newest first
            if i:
                out.append("\n")
            out.append(f"step {s.step}", style="bold" if i == 0 else "dim")
            correct = sum(p == t for p, t in zip(s.prediction, s.target, strict=False))
            n = max(len(s.target), 1)
            out.append(f"  {correct}/{len(s.target)} right ({100 * correct / n:.0f}%)\n", style="dim")
            for k, chunk in enumerate(self._chunks(s, width)):
                if k:
                    out.append("\n")
                widths = [max(cell_len(a), cell_len(b), cell_len(c)) for a, b, c in chunk]
                out.append("input  ", style="dim")
                out.append("".join(pad(a, w) for (a, _, _), w in zip(chunk, widths, strict=True)))
                out.append("\ntarget ", style="dim")
                out.append("".join(pad(b, w) for (_, b, _), w in zip(chunk, widths, strict=True)), style="bold")
                out.append("\nguess  ", style="dim")
                # One span per run of right (or wrong) guesses: a few spans render far faster than one per char.
                run, run_ok = "", None
                for (_, b, c), w in zip(chunk, widths, strict=True):
                    ok = c == b
                    if run and ok != run_ok:
                        out.append(run, style="bold green" if run_ok else "bold red")
                        run = ""
                    run, run_ok = run + pad(c, w), ok
                if run:
                    out.append(run, style="bold green" if run_ok else "bold red")
        yield out

    @staticmethod
    def _chunks(s: Sample, width: int) -> list[list[tuple[str, str, str]]]:
        cols = [(visible(a), visible(b), visible(c)) for a, b, c in zip(s.input, s.target, s.prediction, strict=False)]
        chunks, chunk, used = [], [], 0
        for col in cols:
            w = max(cell_len(x) for x in col)
            if chunk and used + w > width:
                chunks.append(chunk)
                chunk, used = [], 0
            chunk.append(col)
            used += w
        if chunk:
            chunks.append(chunk)
        return chunks


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
