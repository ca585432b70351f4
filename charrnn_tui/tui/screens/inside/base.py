"""What the Surprise and Cells screens share: a text run through the model in a worker, shown one coloured
character at a time with a cursor, a detail panel for the character under it, and a field to type or paste
text into (the generation screen's PrimeInput: a paste of any length and any number of lines is all used).

Subclasses say what to compute (in the worker thread) and how to show it (on the UI thread). While the worker
runs, the info line counts its progress (at most PROGRESS_HZ times a second) and Esc stops it: the work itself,
through the should_stop() it is handed, not just the view.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from charrnn_tui.core.errors import Cancelled, CharRNNError
from charrnn_tui.tui.widgets.char_heat import CharHeat, safe_char
from charrnn_tui.tui.widgets.prime_input import PrimeInput

PROGRESS_HZ = 10  # progress lines a second at most: each one costs the UI a repaint
ProgressFn = Callable[[int, int], None]


def char_label(ch: str) -> str:
    """A character named so that whitespace shows: '↵' for a newline, '␣' for a space."""
    return {"\n": "↵", " ": "␣"}.get(ch) or safe_char(ch)


class InsideCommands(Provider):
    """The screen's keys as commands too, so that the command palette (Ctrl+P) finds them."""

    async def discover(self) -> Hits:
        for name, callback, help_text in self.screen.palette_commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self.screen.palette_commands():
            if (score := matcher.match(name)) > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)


class InsideScreen(Screen):
    @dataclass
    class ViewRequested(Message):
        """Show the model's other view of `text` in place of this one: `view` is "surprise" or "cells". The app
        builds the screen, so that the two views need not know each other."""

        view: str
        model: Any
        vocab: Any
        text: str
        title: str

    @dataclass
    class Computed(Message):
        """The worker's `result` of `compute` for the text of request `request`, or `error` saying why none."""

        request: int
        result: Any = None
        error: str = ""

    @dataclass
    class Progress(Message):
        """The worker's count for request `request`: `done` of `total` units of `kind` ("compute", or a subclass's
        own). A newer one replaces one still queued (`can_replace`): a busy UI drains one, not a backlog."""

        request: int
        kind: str
        done: int
        total: int

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, InsideScreen.Progress) and message.request == self.request

    """Base of the inside views. `model` and `vocab` as the generation screen has them; `text` the text shown
    first (a validation split, say); `title` names the model in the header."""

    CSS_PATH = "inside.tcss"
    BINDINGS = [
        Binding("t", "type_text", "Type"),
        Binding("v", "given_text", "Original"),  # back to the text the view opened on
        Binding("escape", "back", "Back"),
    ]
    WHAT = "running the model"
    DOING = "running the model on"  # the progress line's verb: "{DOING} 4,096 / 17,634 {UNIT} (23 %)"
    UNIT = "characters"
    COMMANDS = {InsideCommands}

    def __init__(self, model: Any, vocab: Any, text: str, title: str) -> None:
        super().__init__()
        self.model = model
        self.vocab = vocab
        self.given = text
        self.title_text = title
        self.result: Any = None
        self.busy = False
        self._request = 0
        self._stop = threading.Event()  # the current work's; set to stop it

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="inside-info", markup=False)
        with Horizontal(id="inside-body"):
            yield CharHeat(id="inside-text")
            with VerticalScroll(id="inside-side"):
                yield Static(id="inside-detail", markup=False)
                yield Static(id="inside-legend", markup=False)
        yield PrimeInput(
            placeholder=r"type or paste text, Enter runs the model on it (\n: new line)", id="inside-input"
        )
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = self.title_text
        self.query_one("#inside-input").border_title = "your text (t)"
        self.query_one("#inside-side").border_title = "under the cursor"
        self.query_one(CharHeat).focus()
        if self.given:
            self.run_on(self.given)
        else:
            self.info(Text("No text yet: press t, type or paste some, and press Enter.", style="yellow"))

    def info(self, text: Text | str) -> None:
        self.query_one("#inside-info", Static).update(text)

    # ---- running the model ----------------------------------------------------------------------------
    def run_on(self, text: str) -> None:
        stop = self.begin_work(f"{self.WHAT} over {len(text):,} characters... (Esc cancels)")
        self._compute(self._request, text, stop)

    def begin_work(self, line: str) -> threading.Event:
        """Stop the work under way, if any; start a new request, busy, saying `line`; return its stop event."""
        self._stop.set()
        self._stop = threading.Event()
        self._request += 1
        self.busy = True
        self.info(Text(line, style="yellow"))
        return self._stop

    def cancel_work(self) -> None:
        """Stop the work under way (its worker raises Cancelled at its next check) and leave the screen usable."""
        self._stop.set()
        self._request += 1  # whatever the worker still posts is for an older request, and dropped
        self.busy = False
        self.info(Text("cancelled. Esc goes back, t types a text, v runs the first one again.", style="yellow"))
        self.query_one(CharHeat).focus()

    def reporter(self, request: int, kind: str) -> ProgressFn:
        """A progress(done, total) for the worker thread: posts a Progress at most PROGRESS_HZ times a second."""
        last = 0.0

        def progress(done: int, total: int) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= 1 / PROGRESS_HZ and done < total:  # the last one: the result follows at once
                last = now
                self.post_message(self.Progress(request, kind, done, total))

        return progress

    def on_inside_screen_progress(self, message: Progress) -> None:
        if message.request == self._request and self.busy:
            self.info(Text(self.progress_line(message.kind, message.done, message.total), style="yellow"))

    def progress_line(self, kind: str, done: int, total: int) -> str:
        """'scoring 4,096 / 17,634 predictions (23 %) - Esc cancels': the info line while the work runs."""
        return f"{self.DOING} {done:,} / {total:,} {self.UNIT} ({100 * done // max(1, total)} %) - Esc cancels"

    def on_unmount(self) -> None:
        self._stop.set()  # a thread worker outlives its screen unless it is told to stop

    @work(thread=True, exclusive=True, exit_on_error=False, group="inside")
    def _compute(self, request: int, text: str, stop: threading.Event) -> None:
        try:
            result = self.compute(text, self.reporter(request, "compute"), stop.is_set)
        except Cancelled:
            return  # cancel_work() has said so
        except CharRNNError as e:
            self.post_message(self.Computed(request, error=str(e)))
        except Exception as e:  # noqa: BLE001 - whatever the model does, the app stays up
            self.post_message(self.Computed(request, error=f"{self.WHAT} failed: {type(e).__name__}: {e}"))
        else:
            self.post_message(self.Computed(request, result))

    def on_inside_screen_computed(self, message: Computed) -> None:
        if message.request != self._request:
            return  # an older text's result
        self.busy = False
        if message.error:
            self.info(Text(message.error, style="bold red"))
            return
        self.result = message.result
        self.show(message.result)
        self.query_one(CharHeat).focus()

    def compute(self, text: str, progress: ProgressFn, should_stop: Callable[[], bool]) -> Any:
        """Runs in the worker thread, calling progress(done, total) as it goes and raising Cancelled once
        should_stop() is true; raises CharRNNError for text the model cannot read."""
        raise NotImplementedError

    def show(self, result: Any) -> None:
        """Runs on the UI thread with compute()'s result."""
        raise NotImplementedError

    def detail(self, index: int) -> Text:
        """The side panel for the character at `index`."""
        raise NotImplementedError

    def on_char_heat_cursor_moved(self, message: CharHeat.CursorMoved) -> None:
        if self.result is not None:
            self.query_one("#inside-detail", Static).update(self.detail(message.index))

    # ---- keys ----------------------------------------------------------------------------------------
    def palette_commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        """(name, callback, help) for the command palette; subclasses add theirs."""
        return [
            ("Type a text to run the model on", self.action_type_text, "key: t"),
            ("Back to the original text (the one this view opened on)", self.action_given_text, "key: v"),
        ]

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = self.query_one("#inside-input", PrimeInput).prime  # all of it: the value may show only a preview
        if text:
            self.run_on(text)  # focus moves to the text once it is scored; on an error it stays here

    def action_type_text(self) -> None:
        self.query_one("#inside-input", Input).focus()

    def action_given_text(self) -> None:
        if self.given:
            self.run_on(self.given)

    def action_back(self) -> None:
        if self.busy:
            self.cancel_work()
        elif self.focused is self.query_one("#inside-input"):
            self.query_one(CharHeat).focus()
        else:
            self.app.pop_screen()
