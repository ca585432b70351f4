"""The Cells screen: a text coloured by one recurrent cell's activation after each character (LSTM cell
state c; h for GRU and vanilla RNN cells), one diverging palette, keys to move between cells and layers,
and "find": the cells that best track simple properties of the text (Karpathy, Johnson & Fei-Fei 2015,
"Visualizing and Understanding Recurrent Networks")."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Static

from charrnn_tui.tui.screens.inside.base import InsideScreen, ProgressFn, char_label
from charrnn_tui.tui.widgets.char_heat import CharHeat
from charrnn_tui.tui.widgets.heat_palette import diverging_legend, diverging_style

KIND = {"c": "cell state c", "h": "hidden state h"}


class CellsScreen(InsideScreen):
    @dataclass
    class Ranked(Message):
        """The find worker's ranking, {property: [CellMatch, ...]}, for the text of request `request`."""

        request: int
        result: dict | None = None
        error: str = ""

    BINDINGS = [
        Binding("n", "cell(1)", "Cell+"),
        Binding("p", "cell(-1)", "Cell-"),
        Binding("l", "layer", "Layer"),
        Binding("f", "find", "Find"),
        Binding("s", "surprise", "Surprise"),
    ]
    WHAT = "recording every cell"

    def __init__(self, model: Any, vocab: Any, text: str, title: str) -> None:
        super().__init__(model, vocab, text, title)
        self.layer_index = 0
        self.cell_index = 0
        self.ranking: dict[str, list] | None = None  # property -> CellMatch list, best first
        self.found: tuple[str, Any] | None = None  # the property and match that "find" last jumped to
        self._find_next = 0
        self._values: list[float] = []  # the chosen cell over the text
        self._scale = 1.0

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#inside-text").border_title = "each character coloured by one cell after it"

    def compute(self, text: str, progress: ProgressFn, should_stop: Callable[[], bool]) -> Any:
        from charrnn_tui.inside.inspection import record_cells

        return record_cells(self.model, self.vocab, text, should_stop=should_stop, progress=progress)

    def progress_line(self, kind: str, done: int, total: int) -> str:
        """'recording every cell: layer 2/3, 4,096 / 10,000 characters (45 %)', or find's properties ranked."""
        percent = 100 * done // max(1, total)
        if kind == "find":
            return f"ranking every cell: {done} / {total} properties ({percent} %) - Esc cancels"
        layers = self.model.n_layers
        chars = max(1, total // layers)
        layer = min(layers, done // chars + 1)
        done_here = done - (layer - 1) * chars
        return (
            f"recording every cell: layer {layer}/{layers}, {done_here:,} / {chars:,} characters ({percent} %)"
            " - Esc cancels"
        )

    def show(self, trace: Any) -> None:
        self.ranking, self.found, self._find_next = None, None, 0
        self.layer_index = min(self.layer_index, trace.n_layers - 1)
        self.cell_index = min(self.cell_index, trace.hidden - 1)
        self.query_one(CharHeat).set_text(trace.text, [None] * len(trace.text))
        self._draw_cell()

    def _draw_cell(self) -> None:
        trace = self.result
        values = trace.states[self.layer_index, :, self.cell_index]
        # One scale per cell, its largest |activation| here: a quiet cell's pattern still shows.
        self._scale = max(float(values.abs().max()), 1e-6)
        self._values = values.tolist()
        styles = [diverging_style(v, self._scale) for v in self._values]
        heat = self.query_one(CharHeat)
        heat.restyle(styles)
        info = Text.assemble(
            ("layer ", "dim"), (f"{self.layer_index + 1}/{trace.n_layers}", "bold"),
            ("  cell ", "dim"), (f"{self.cell_index}/{trace.hidden - 1}", "bold"),
            f"  {self.model.cell.upper()} {KIND[trace.kind]}  ",
            ("over ", "dim"), f"{len(trace.text):,} characters",
        )  # fmt: skip
        if trace.truncated:
            info.append("  (capped)", style="yellow")
        if self.found is not None:
            name, match = self.found
            info.append(f"\nfind: tracks '{name}' best, r = {match.r:+.2f}", style="green")
        self.info(info)
        legend = Text()
        legend.append("activation, blue < 0 < red:\n", style="dim")
        legend.append_text(diverging_legend(self._scale))
        self.query_one("#inside-legend", Static).update(legend)
        self.query_one("#inside-detail", Static).update(self.detail(heat.cursor))

    def detail(self, index: int) -> Text:
        trace = self.result
        out = Text()
        out.append(f"'{char_label(trace.text[index])}'", style="bold")
        out.append(f"  character {index + 1:,}\n", style="dim")
        if self._values:
            value = self._values[index]
            out.append(f"{trace.kind} = ")
            out.append(f"{value:+.3f}", style=diverging_style(value, self._scale))
            out.append("\n")
        if self.ranking is not None:
            out.append("\nfind (f cycles):\n", style="dim")
            for name, matches in self.ranking.items():
                if not matches:
                    out.append(f"{name}: none here\n", style="dim")
                    continue
                m = matches[0]
                out.append(f"{name}: ", style="bold" if self.found and self.found[0] == name else "")
                out.append(f"L{m.layer + 1} c{m.cell} r={m.r:+.2f}\n")
        out.rstrip()
        return out

    # ---- keys ----------------------------------------------------------------------------------------
    def palette_commands(self) -> list:
        return super().palette_commands() + [
            ("Next cell", partial(self.action_cell, 1), "key: n"),
            ("Previous cell", partial(self.action_cell, -1), "key: p"),
            ("Next layer", self.action_layer, "key: l"),
            ("Find the cells that track quotes, brackets, line position...", self.action_find, "key: f"),
            ("Surprise view of this text", self.action_surprise, "key: s"),
        ]

    def action_cell(self, delta: int) -> None:
        if self.result is None:
            return
        self.cell_index = (self.cell_index + delta) % self.result.hidden
        self.found = None
        self._draw_cell()

    def action_layer(self) -> None:
        if self.result is None:
            return
        self.layer_index = (self.layer_index + 1) % self.result.n_layers
        self.found = None
        self._draw_cell()

    def action_find(self) -> None:
        """Rank cells per property (once per text, in a worker), then jump to the best cell of the next one."""
        if self.result is None or self.busy:
            return
        if self.ranking is None:
            stop = self.begin_work("ranking every cell against each property... (Esc cancels)")
            self._rank(self._request, self.result, stop)
            return
        self._jump()

    @work(thread=True, exclusive=True, exit_on_error=False, group="find")
    def _rank(self, request: int, trace: Any, stop: threading.Event) -> None:
        from charrnn_tui.core.errors import Cancelled
        from charrnn_tui.inside.inspection import rank_cells

        try:
            ranking = rank_cells(
                trace.states, trace.text, top=3, progress=self.reporter(request, "find"), should_stop=stop.is_set
            )
        except Cancelled:
            return  # cancel_work() has said so
        except Exception as e:  # noqa: BLE001 - the view stays up
            self.post_message(self.Ranked(request, error=f"find failed: {type(e).__name__}: {e}"))
            return
        self.post_message(self.Ranked(request, ranking))

    def on_cells_screen_ranked(self, message: Ranked) -> None:
        message.stop()
        if message.request != self._request:
            return
        self.busy = False
        if message.error:
            self.info(Text(message.error, style="bold red"))
            return
        self.ranking = message.result
        self._jump()

    def _jump(self) -> None:
        names = [name for name, matches in self.ranking.items() if matches]
        if not names:
            self.info(Text("no property varies in this text: nothing to find", style="yellow"))
            return
        name = names[self._find_next % len(names)]
        self._find_next += 1
        match = self.ranking[name][0]
        self.layer_index, self.cell_index = match.layer, match.cell
        self.found = (name, match)
        self._draw_cell()

    def action_surprise(self) -> None:
        text = self.result.text if self.result is not None else self.given
        self.post_message(self.ViewRequested("surprise", self.model, self.vocab, text, self.title_text))
