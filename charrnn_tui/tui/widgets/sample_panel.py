"""The argmax-sample panel: for one batch row, the input window, the target (the input shifted by one)
and the model's most likely next character at each position, aligned column by column."""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text
from textual.widgets import Static

from charrnn_tui.events import Sample

LABEL = "target "  # every row label is padded to this width
VISIBLE = {"\n": "↵", "\t": "→", "\r": "␍", " ": "·"}  # whitespace made visible, one cell each


def visible(ch: str) -> str:
    if ch in VISIBLE:
        return VISIBLE[ch]
    if ch.isprintable():
        return ch
    return "�"  # control characters would move the cursor; combining marks have no cell of their own


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
            for chunk in self._chunks(s, width):
                rows = [Text(LABEL.replace("target", "input "), style="dim"), Text(LABEL, style="dim"),
                        Text("guess  ", style="dim")]  # fmt: skip
                for a, b, c in chunk:
                    w = max(cell_len(a), cell_len(b), cell_len(c))
                    ok = c == b
                    rows[0].append(pad(a, w))
                    rows[1].append(pad(b, w), style="bold")
                    rows[2].append(pad(c, w), style="bold green" if ok else "bold red")
                out.append_text(Text("\n").join(rows))
                out.append("\n")
            out.rstrip()
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
    DEFAULT_CSS = """
    SamplePanel { height: auto; }
    """

    def set_samples(self, samples: Iterable[Sample]) -> None:
        samples = list(samples)
        if samples:
            self.update(SampleView(samples))
        else:
            self.update(Text("Waiting for the first step: the model's guesses appear here.", style="dim"))
