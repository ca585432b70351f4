"""One line on the corpus screen: the best Markov (n-gram) model's validation loss for the chosen corpus,
computed in a background worker (a few seconds for a play; capped for a huge file, and it says so)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.message import Message
from textual.widgets import Static
from textual.worker import get_current_worker

from charrnn_tui.scoring.baseline import BaselineResult
from charrnn_tui.text.corpus import Corpus

if TYPE_CHECKING:
    from charrnn_tui.tui.state.baselines import BaselineCache


class BaselineLine(Static):
    DEFAULT_CSS = """
    BaselineLine { height: auto; }
    """

    @dataclass
    class Done(Message):
        """The worker's line for request `request`: `text` to show, and the `result` (None: it failed)."""

        request: int
        text: Text
        result: BaselineResult | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, markup=False, **kwargs)
        self._request = 0
        self.result: BaselineResult | None = None  # the one shown, once known

    def clear(self) -> None:
        self._request += 1
        self.result = None
        self.update("")

    def show_for(self, corpus: Corpus, val_fraction: float, baselines: BaselineCache) -> None:
        """Recall the baseline for this corpus and split from `baselines` (the app's cache), or compute it there;
        a newer call supersedes an older one."""
        self._request += 1
        known = baselines.get(corpus, val_fraction)
        if known is not None:
            self._show(known)
            return
        self.update(Text.assemble(("n-gram baseline ", "dim"), ("computing...", "yellow")))
        self._compute(self._request, corpus, val_fraction, baselines)

    @work(thread=True, exclusive=True, exit_on_error=False, group="baseline")
    def _compute(self, request: int, corpus: Corpus, val_fraction: float, baselines: BaselineCache) -> None:
        from charrnn_tui.core.errors import CharRNNError
        from charrnn_tui.scoring.baseline import Cancelled

        worker = get_current_worker()
        try:
            result = baselines.compute(corpus, val_fraction, lambda: worker.is_cancelled)
        except Cancelled:
            return
        except (CharRNNError, MemoryError) as e:
            message = "out of memory" if isinstance(e, MemoryError) else str(e)
            self.post_message(self.Done(request, Text(f"n-gram baseline: {message}", style="red")))
            return
        self.post_message(self.Done(request, self._describe(result), result))

    def on_baseline_line_done(self, message: Done) -> None:
        message.stop()
        if message.request == self._request:
            self.result = message.result
            self.update(message.text)

    def _show(self, result: BaselineResult) -> None:
        self.result = result
        self.update(self._describe(result))

    @staticmethod
    def _describe(result: BaselineResult) -> Text:
        from charrnn_tui.tui.state.baselines import describe

        out = Text.assemble(("n-gram best ", "dim"), describe(result))
        note = result.cap_note()
        if note:
            out.append(f"\n{note}", style="dim")
        return out
