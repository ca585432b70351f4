"""The generation screen: type a prime, press Enter, and watch the model write on, one character at a time."""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from charrnn_tui.tui.widgets.generated_text import GeneratedText, candidates_text, legend_text

if TYPE_CHECKING:
    from charrnn_tui.generate import Token
    from charrnn_tui.vocab import Vocab

# Streamed characters are collected and drawn in batches. Each frame holds the GIL that the generator
# needs: at 10 frames a second the app streams at ~3/4 of the CLI's rate, at 15 ~0.6 (measured in tmux, 20,000 chars).
FLUSH_HZ = 10
MAX_LENGTH = 100_000


class GenerationDone(Message):
    def __init__(self, run: int, error: str = "") -> None:
        super().__init__()
        self.run = run
        self.error = error


class GenerationScreen(Screen):
    CSS_PATH = "generation.tcss"
    BINDINGS = [
        Binding("ctrl+g", "generate", "Generate", priority=True),
        Binding("ctrl+n", "more", "Continue", priority=True),
        Binding("ctrl+s", "stop", "Stop", priority=True),
        Binding("ctrl+r", "reset", "Reset", priority=True),
        Binding("ctrl+l", "inspect", "Look inside", priority=True),
        Binding("escape", "back", "Stop/back"),
    ]

    def __init__(self, model: Any, vocab: Vocab, default_prime: str, title: str, seed: int | None = None) -> None:
        super().__init__()
        self.model = model  # None in tests that feed fixed tokens through show_tokens()
        self.vocab = vocab
        self.default_prime = default_prime
        self.title_text = title
        self.seed = seed
        self.generator = None  # built on first use: generate.py imports torch
        self._gen_lock = threading.Lock()  # one generation at a time touches the generator's state
        self._stop = threading.Event()
        self._queue: deque[tuple[int, Token]] = deque()  # worker -> UI; deque append/popleft are thread-safe
        self._run = 0  # tokens of an older run, still in flight, are dropped
        self.generating = False
        self._last: Token | None = None
        self._target = 0

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="gen-controls"):
            yield Input(placeholder="prime text: empty starts from the corpus's first line", id="prime")
            yield Input("500", type="integer", id="length")
            yield Input("0.8", type="number", id="temperature")
            yield Input("0", type="integer", id="top-k")
        yield Static(id="gen-status", markup=False)
        with Horizontal(id="gen-body"):
            yield GeneratedText(id="gen-pane")
            with Vertical(id="gen-side"):
                yield Static(id="candidates")
                yield Static(legend_text(), id="legend")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.title_text
        self.query_one("#prime").border_title = "prime (Enter generates)"
        self.query_one("#length").border_title = "length"
        self.query_one("#temperature").border_title = "temperature"
        self.query_one("#top-k").border_title = "top-k"
        self.query_one("#gen-pane").border_title = "generated text (the prime underlined)"
        self.query_one("#gen-side").border_title = "top guesses, last step"
        self.query_one("#candidates", Static).update(candidates_text(None))
        self.status("Type a prime (or leave it empty) and press Enter. temperature 0 is argmax; top-k 0 keeps all.")
        self.query_one("#prime", Input).focus()
        self.app.steady_inputs(self)
        self.set_interval(1 / FLUSH_HZ, self._flush)

    def status(self, message: str, error: bool = False) -> None:
        self.query_one("#gen-status", Static).update(Text(message, style="bold red" if error else ""))

    # ---- settings --------------------------------------------------------------------------------------
    def _settings(self) -> tuple[int, float, int] | None:
        try:
            length = int(self.query_one("#length", Input).value or "0")
            temperature = float(self.query_one("#temperature", Input).value or "0")
            top_k = int(self.query_one("#top-k", Input).value or "0")
        except ValueError:
            self.status("length and top-k must be whole numbers, temperature a number", error=True)
            return None
        if not 0 < length <= MAX_LENGTH:
            self.status(f"length must be between 1 and {MAX_LENGTH:,} (got {length})", error=True)
            return None
        if temperature < 0:
            self.status(f"temperature must be 0 (argmax) or more (got {temperature:g})", error=True)
            return None
        if top_k < 0:
            self.status(f"top-k must be 0 (all) or more (got {top_k})", error=True)
            return None
        return length, temperature, top_k

    # ---- actions -----------------------------------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_generate()

    def action_generate(self) -> None:
        """Start over from the prime, with a fresh state."""
        settings = self._settings()
        if settings is None:
            return
        typed = self.query_one("#prime", Input).value.replace("\\n", "\n")
        prime = typed or self.default_prime
        missing = self.vocab.missing(prime)
        if missing:
            shown = " ".join(repr(c) for c in missing[:10]) + (" ..." if len(missing) > 10 else "")
            self.status(
                f"The model never saw {shown} (its vocabulary comes from the training corpus): "
                "remove or replace them and press Enter again.",
                error=True,
            )
            return
        self._begin(prime, *settings)

    def action_more(self) -> None:
        """Extend the same text, the recurrent state carried on."""
        if self.generator is None or self.generator.logits is None:
            self.status("Nothing to continue yet: press Enter to generate first.", error=True)
            return
        settings = self._settings()
        if settings is not None:
            self._begin(None, *settings)

    def action_stop(self) -> None:
        if self.generating:
            self._stop.set()

    def action_reset(self) -> None:
        self._stop.set()
        self._run += 1
        self._queue.clear()
        if self.generator is not None:
            with self._gen_lock:
                self.generator.reset()
        self._last = None
        self.generating = False
        self.query_one(GeneratedText).clear()
        self.query_one("#candidates", Static).update(candidates_text(None))
        self.status("Cleared. Type a prime and press Enter.")

    def action_inspect(self) -> None:
        """The Surprise view (and from it the Cells view) of this model on the text in the pane."""
        from charrnn_tui.tui.screens.surprise import SurpriseScreen

        text = self.query_one(GeneratedText).plain or self.default_prime
        self.app.push_screen(SurpriseScreen(self.model, self.vocab, text, self.title_text))

    def action_back(self) -> None:
        if self.generating:
            self.action_stop()
        else:
            self.app.pop_screen()

    # ---- the stream --------------------------------------------------------------------------------
    def _begin(self, prime: str | None, length: int, temperature: float, top_k: int) -> None:
        self._stop.set()  # a running stream ends at its next character; the lock orders the two
        self._stop = threading.Event()
        self._run += 1
        self._queue.clear()
        pane = self.query_one(GeneratedText)
        if prime is not None:
            pane.clear()
            pane.add_prime(prime)
        self.generating = True
        self._target = pane.n_chars + length
        self.status(f"generating {length} characters... Ctrl+S or Esc stops.")
        if self.model is not None:
            self._stream(self._run, self._stop, prime, length, temperature, top_k)

    @work(thread=True, exit_on_error=False, group="generate")
    def _stream(self, run: int, stop: threading.Event, prime: str | None, length: int, temp: float, top_k: int) -> None:
        error = ""
        try:
            with self._gen_lock:
                if self.generator is None:
                    from charrnn_tui.generate import Generator

                    self.generator = Generator(self.model, self.vocab)
                if prime is not None:
                    self.generator.reset()
                    self.generator.feed(prime)
                for tok in self.generator.sample(length, temp, top_k, self.seed):
                    if stop.is_set():
                        break
                    self._queue.append((run, tok))
        except Exception as e:  # shown in the status line; the app keeps running
            error = f"generation failed: {type(e).__name__}: {e}"
        self.post_message(GenerationDone(run, error))

    def show_tokens(self, prime: str | None, tokens: list[Token]) -> None:
        """Stream fixed tokens through the same path as the model's (for tests and demos)."""
        settings = self._settings() or (len(tokens), 0.0, 0)
        self._begin(prime, max(len(tokens), 1), settings[1], settings[2])
        for tok in tokens:
            self._queue.append((self._run, tok))
        self.post_message(GenerationDone(self._run))

    def _flush(self) -> None:
        if not self._queue:
            return
        tokens = []
        for _ in range(len(self._queue)):
            run, tok = self._queue.popleft()
            if run == self._run:
                tokens.append(tok)
        if not tokens:
            return
        self._last = tokens[-1]
        pane = self.query_one(GeneratedText)
        with self.app.batch_update():
            pane.add_tokens(tokens)
            self.query_one("#candidates", Static).update(candidates_text(self._last), layout=False)

    def on_generation_done(self, message: GenerationDone) -> None:
        if message.run != self._run:
            return
        self._flush()
        self.generating = False
        if message.error:
            self.status(message.error, error=True)
            return
        n = self.query_one(GeneratedText).n_chars
        stopped = " (stopped)" if n < self._target else ""
        self.status(f"{n} characters generated{stopped}. Ctrl+N continues, Enter starts over, Ctrl+R clears.")
