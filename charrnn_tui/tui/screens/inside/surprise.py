"""The Surprise screen: a text coloured by how surprised the model was by each character (in bits), with the
probability it gave that character and the candidates it expected, for the character under the cursor.

The sum and mean at the top are the model's loss on this text read as one stream with the state carried,
the number the trainer's validation loss measures. Both read it alike (`inspection.surprise`, as
`scoring.evaluate`): up to 32 parts side by side, each started with its preceding characters, which gives the
one-stream value to about 0.00001 nats/char.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.widgets import Static

from charrnn_tui.tui.screens.inside.base import InsideScreen, ProgressFn, char_label
from charrnn_tui.tui.widgets.char_heat import CharHeat
from charrnn_tui.tui.widgets.heat_palette import surprise_legend, surprise_style

TOP_K = 5
FIRST_CHAR = Style(dim=True)  # nothing precedes it: no prediction, no colour
SEP = "  ·  "  # between the stats line's figures


class Parts:
    """Text parts laid out on lines of a given width, breaking only between parts: each part is (text, the
    separator before it), and a separator is dropped where a line breaks, so a "·" never ends or starts a
    line. Laid out here, with the breaks written into the Text, because Rich's and Textual's wrappers break
    at any space, the ones around a separator included; a part wider than the width on its own is left to
    them, and wraps at its own spaces."""

    def __init__(self, parts: list[tuple[Text, str]]) -> None:
        self.parts = parts

    def lines(self, width: int) -> list[Text]:
        """The parts packed greedily into lines of at most `width` cells (a part alone may need more)."""
        lines: list[Text] = []
        for part, sep in self.parts:
            if lines and lines[-1].cell_len + cell_len(sep) + part.cell_len <= width:
                lines[-1].append(sep)
                lines[-1].append_text(part)
            else:
                lines.append(part.copy())
        return lines

    def text(self, width: int) -> Text:
        """The parts as one Text with a newline at each break for lines `width` cells wide."""
        return Text("\n").join(self.lines(width))


def stats_line(s: Any) -> Parts:
    """The figures of a Surprise `s` (charrnn_tui.inside.inspection.Surprise) above the text, as Parts:
    the counts, the sum, the mean with how it was read, and the cut when the text was cut."""
    # N characters give N-1 predictions (the first has nothing before it): both counts, so that this
    # figure and the N characters the corpus screen and the run count are seen to agree.
    counts = f" predictions over {len(s.text):,} characters (none for the first)"
    parts = [
        (Text.assemble((f"{s.n_predicted:,}", "bold"), counts), ""),
        (Text.assemble("sum ", (f"{s.sum_bits:,.0f} bits", "bold")), SEP),
        (Text.assemble("mean ", (f"{s.mean_bits:.3f} bits/char = {s.mean_nats:.4f} nats/char", "bold")), SEP),
        (Text("(one stream, state carried)", style="dim"), "  "),
    ]
    if s.truncated:
        parts.append((Text(f"the first {len(s.text):,} characters only", style="yellow"), SEP))
    return Parts(parts)


@dataclass
class Scored:
    """A Surprise made into plain lists once, in the worker: the UI reads them per keypress."""

    surprise: Any  # charrnn_tui.inside.inspection.Surprise
    bits: list[float]
    prob: list[float]
    top_ids: list[list[int]]
    top_probs: list[list[float]]
    styles: list[Style]


class SurpriseScreen(InsideScreen):
    BINDINGS = [Binding("c", "cells", "Cells")]
    WHAT = "scoring each character"
    DOING = "scoring"
    UNIT = "predictions"
    stats: Parts | None = None  # the figures while the info line shows them

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#inside-text").border_title = "each character coloured by its surprise"  # whole at 80 columns
        self.query_one("#inside-legend", Static).update(surprise_legend())

    def compute(self, text: str, progress: ProgressFn, should_stop: Callable[[], bool]) -> Scored:
        from charrnn_tui.inside.inspection import surprise

        s = surprise(self.model, self.vocab, text, top_k=TOP_K, progress=progress, should_stop=should_stop)
        bits = s.bits.tolist()
        return Scored(
            surprise=s,
            bits=bits,
            prob=s.prob.tolist(),
            top_ids=s.top_ids.tolist(),
            top_probs=s.top_probs.tolist(),
            styles=[FIRST_CHAR] + [surprise_style(b) for b in bits],
        )

    def show(self, result: Scored) -> None:
        s = result.surprise
        self.stats = stats_line(s)
        self.show_stats()
        heat = self.query_one(CharHeat)
        heat.set_text(s.text, result.styles, cursor=1 if len(s.text) > 1 else 0)

    def info(self, text: Text | str) -> None:
        self.stats = None  # the line says something else now: a resize must not bring the figures back
        super().info(text)

    def show_stats(self) -> None:
        """The figures, broken for the info line's width as it is now."""
        if self.stats is None:
            return
        info = self.query_one("#inside-info", Static)
        width = info.content_size.width or self.size.width - info.styles.gutter.width
        info.update(self.stats.text(max(width, 1)))

    def on_resize(self) -> None:
        self.call_after_refresh(self.show_stats)  # after the layout, when the line has its new width

    def detail(self, index: int) -> Text:
        result: Scored = self.result
        text = result.surprise.text
        out = Text()
        out.append(f"'{char_label(text[index])}'", style="bold")
        out.append(f"  character {index + 1:,}\n", style="dim")
        if index == 0:
            out.append("the first character: nothing\nbefore it, no prediction", style="dim")
            return out
        bits, prob = result.bits[index - 1], result.prob[index - 1]
        out.append("p = ")
        out.append(f"{100 * prob:.2f}%", style="bold")
        out.append(f"  {bits:.2f} bits\n\n", style=surprise_style(bits))
        out.append("the model expected:\n", style="dim")
        for idx, p in zip(result.top_ids[index - 1], result.top_probs[index - 1], strict=True):
            ch = self.vocab.chars[idx]
            mark = "▶" if ch == text[index] else " "
            out.append(f"{mark} {char_label(ch)} ", style="bold")
            out.append(f"{100 * p:5.1f}% ")
            out.append("█" * max(0, round(p * 12)) + "\n", style="green")
        out.rstrip()
        return out

    def palette_commands(self) -> list:
        return super().palette_commands() + [("Cells view of this text", self.action_cells, "key: c")]

    def action_cells(self) -> None:
        text = self.result.surprise.text if self.result is not None else self.given
        self.post_message(self.ViewRequested("cells", self.model, self.vocab, text, self.title_text))
