"""One line on the corpus screen: the best Markov (n-gram) model's validation loss for the chosen corpus,
computed in a background worker (a few seconds for a play; capped for a huge file, and it says so). While it
works the line counts the validation characters scored, and `cancel()` stops the work."""

from __future__ import annotations

import time
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

    @dataclass
    class Progress(Message):
        """The worker's count for request `request`: `done` of `total` validation characters scored. A newer
        one replaces one still queued, so that a slow screen drains one, not a backlog."""

        request: int
        done: int
        total: int

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, BaselineLine.Progress) and message.request == self.request

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
        self.update(Text.assemble(("n-gram baseline ", "dim"), ("counting n-grams...", "yellow")))
        self._compute(self._request, corpus, val_fraction, baselines)

    @property
    def working(self) -> bool:
        """A computation for the current request is under way."""
        return any(w.node is self and w.group == "baseline" and not w.is_finished for w in self.workers)

    def cancel(self) -> bool:
        """Stop the computation under way (its worker gives up within PROGRESS_EVERY characters) and say so.
        Returns False when there was none."""
        if not self.working:
            return False
        self._request += 1
        self.workers.cancel_group(self, "baseline")
        self.update(Text.assemble(("n-gram baseline ", "dim"), ("cancelled", "yellow")))
        return True

    @work(thread=True, exclusive=True, exit_on_error=False, group="baseline")
    def _compute(self, request: int, corpus: Corpus, val_fraction: float, baselines: BaselineCache) -> None:
        from charrnn_tui.core.errors import Cancelled, CharRNNError

        worker = get_current_worker()
        last = 0.0

        def progress(done: int, total: int) -> None:
            nonlocal last
            # At most ~10 lines a second: the message is coalesced too, but each one costs the UI a repaint.
            if time.monotonic() - last >= 0.1 and done < total:
                last = time.monotonic()
                self.post_message(self.Progress(request, done, total))

        try:
            result = baselines.compute(corpus, val_fraction, lambda: worker.is_cancelled, progress)
        except Cancelled:
            return
        except (CharRNNError, MemoryError) as e:
            message = "out of memory" if isinstance(e, MemoryError) else str(e)
            self.post_message(self.Done(request, Text(f"n-gram baseline: {message}", style="red")))
            return
        self.post_message(self.Done(request, self._describe(result), result))

    def on_baseline_line_progress(self, message: Progress) -> None:
        message.stop()
        if message.request == self._request:
            self.update(progress_line(message.done, message.total))

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


def progress_line(done: int, total: int) -> Text:
    """'n-gram baseline scoring 4,096 / 17,635 characters (23 %)': done and total in validation characters."""
    percent = 100 * done // max(1, total)
    return Text.assemble(
        ("n-gram baseline ", "dim"), (f"scoring {done:,} / {total:,} characters ({percent} %)", "yellow")
    )
