"""What the Surprise and Cells screens share: a text run through the model in a worker, shown one coloured
character at a time with a cursor, a detail panel for the character under it, and a line to type text into.

Subclasses say what to compute (in the worker thread) and how to show it (on the UI thread).
"""

from __future__ import annotations

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

from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.tui.widgets.char_heat import CharHeat, safe_char
from charrnn_tui.tui.widgets.safe_input import SafeInput


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

    """Base of the inside views. `model` and `vocab` as the generation screen has them; `text` the text shown
    first (a validation split, say); `title` names the model in the header."""

    CSS_PATH = "inside.tcss"
    BINDINGS = [
        Binding("t", "type_text", "Type"),
        Binding("v", "given_text", "Original"),  # back to the text the view opened on
        Binding("escape", "back", "Back"),
    ]
    WHAT = "running the model"
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

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="inside-info", markup=False)
        with Horizontal(id="inside-body"):
            yield CharHeat(id="inside-text")
            with VerticalScroll(id="inside-side"):
                yield Static(id="inside-detail", markup=False)
                yield Static(id="inside-legend", markup=False)
        yield SafeInput(placeholder=r"type or paste text, Enter runs the model on it (\n: new line)", id="inside-input")
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
        self._request += 1
        self.busy = True
        self.info(Text(f"{self.WHAT} over {len(text):,} characters...", style="yellow"))
        self._compute(self._request, text)

    @work(thread=True, exclusive=True, exit_on_error=False, group="inside")
    def _compute(self, request: int, text: str) -> None:
        try:
            result = self.compute(text)
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

    def compute(self, text: str) -> Any:
        """Runs in the worker thread; raises CharRNNError for text the model cannot read."""
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
        text = event.value.replace("\\n", "\n")
        if text:
            self.run_on(text)  # focus moves to the text once it is scored; on an error it stays here

    def action_type_text(self) -> None:
        self.query_one("#inside-input", Input).focus()

    def action_given_text(self) -> None:
        if self.given:
            self.run_on(self.given)

    def action_back(self) -> None:
        if self.focused is self.query_one("#inside-input"):
            self.query_one(CharHeat).focus()
        else:
            self.app.pop_screen()
