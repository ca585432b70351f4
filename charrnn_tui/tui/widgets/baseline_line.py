"""One line on the corpus screen: the best Markov (n-gram) model's validation loss for the chosen corpus,
computed in a background worker (a few seconds for a play; capped for a huge file, and it says so). While it
works the line counts the validation characters scored and names the key that cancels it; `cancel()` stops
the work and `restart()` computes it again. `hold()` makes a request wait until `release()`: the corpus screen
holds it until the saved runs' first page is drawn, since the fit holds the GIL that the runs' scan needs."""

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

HOLD_S = 3.0  # hold()'s default: the corpus screen waits for the saved runs' first page, on a slow disk no longer


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
        self._asked: tuple[Corpus, float, BaselineCache] | None = None  # the last show_for, for restart()
        self._held = False
        self.pending = False  # a request waits for release()
        self.computing = False  # the current request's worker computes it
        self.cancelled = False  # the last request was cancelled: restart() computes it

    def clear(self) -> None:
        self._request += 1
        self.result, self._asked, self.pending, self.computing, self.cancelled = None, None, False, False, False
        self.update("")
        self.refresh_bindings()

    def show_for(self, corpus: Corpus, val_fraction: float, baselines: BaselineCache) -> None:
        """Recall the baseline for this corpus and split from `baselines` (the app's cache), or compute it there
        (once released, when held); a newer call supersedes an older one."""
        self._request += 1
        self._asked, self.result, self.cancelled = (corpus, val_fraction, baselines), None, False
        known = baselines.get(corpus, val_fraction)
        if known is not None:
            self.pending = self.computing = False
            self._show(known)
        elif self._held:
            self.pending = True
            self.update(Text.assemble(("n-gram baseline ", "dim"), ("next, once the saved runs show", "yellow"),
                                      ("  Esc cancels", "dim")))  # fmt: skip
        else:
            self._start()
        self.refresh_bindings()

    def hold(self, seconds: float = HOLD_S) -> None:
        """Requests from now on wait for `release()`, or `seconds` at most (they say so, and `cancel()` cancels
        them as it cancels work)."""
        self._held = True
        self.set_timer(seconds, self.release)

    def release(self) -> None:
        """Start the request held back, if any; later requests start at once."""
        self._held = False
        if self.pending:
            self._start()
            self.refresh_bindings()

    def _start(self) -> None:
        assert self._asked is not None
        self.pending, self.computing = False, True
        self.update(
            Text.assemble(("n-gram baseline ", "dim"), ("counting n-grams...", "yellow"), ("  Esc cancels", "dim"))
        )
        self._compute(self._request, *self._asked)

    @property
    def working(self) -> bool:
        """A computation for the current request is under way (a cancelled one until its worker has ended)."""
        return any(w.node is self and w.group == "baseline" and not w.is_finished for w in self.workers)

    @property
    def cancellable(self) -> bool:
        """Esc would cancel something: a request held back, or one computing that was not cancelled yet."""
        return self.pending or self.computing

    def cancel(self) -> bool:
        """Stop the computation under way (its worker gives up within PROGRESS_EVERY characters, or after the
        order it is counting) or the request held back, and say so and how to get it back. Returns False when
        there was none."""
        if not self.cancellable:
            return False
        self._request += 1
        self.pending, self.computing, self.cancelled = False, False, True
        self.workers.cancel_group(self, "baseline")
        self.update(Text.assemble(("n-gram baseline ", "dim"), ("cancelled", "yellow"),
                                  ("  Ctrl+R computes it", "dim")))  # fmt: skip
        self.refresh_bindings()
        return True

    def restart(self) -> bool:
        """Compute the cancelled request again (the work starts over). Returns False when none was cancelled."""
        if not self.cancelled or self._asked is None:
            return False
        self.show_for(*self._asked)
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
            self.update(progress_line(message.done, message.total).append("  Esc cancels", style="dim"))

    def on_baseline_line_done(self, message: Done) -> None:
        message.stop()
        if message.request == self._request:
            self.result, self.computing = message.result, False
            self.update(message.text)
            self.refresh_bindings()  # Esc no longer cancels

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
