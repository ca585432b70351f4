"""The generation screen: type a prime, press Enter, and watch the model write on, one character at a time.

Ctrl+L cycles 1, 2 and 4 columns: continuations of the same prime, stepped together (one read of the
weights per step for all), each column headed by its temperature. The temperature field takes one value
(every column samples at it, each with its own seed) or one per column ("0 0.5 0.8 1.2").
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.generation.settings import GenerationSettings
from charrnn_tui.present.safetext import escape, one_line
from charrnn_tui.tui.state.weight_sets import WeightSets, weights_line
from charrnn_tui.tui.widgets.generated_text import GeneratedText, candidates_text, legend_text
from charrnn_tui.tui.widgets.prime_input import PrimeInput, prime_size
from charrnn_tui.tui.widgets.safe_input import SafeInput

if TYPE_CHECKING:
    from charrnn_tui.generation.tokens import Token
    from charrnn_tui.text.vocab import Vocab

# Streamed characters are collected and drawn in batches. Each frame holds the GIL that the generator
# needs: at 10 frames a second the app streams at ~3/4 of the CLI's rate, at 15 ~0.6 (measured in tmux, 20,000 chars).
FLUSH_HZ = 10
MAX_LENGTH = 100_000
# The pane shows a long prime's last characters only: all of it is fed to the model, but wrapping and drawing a
# megabyte of it would cost the UI thread seconds and the app its size many times over.
PRIME_SHOWN = 10_000
COLUMNS = (1, 2, 4)
WIDE = 120  # from this terminal width, 4 columns stand side by side; below it they are 2 x 2


def parse_temperatures(text: str, columns: int) -> list[float]:
    """One temperature per column from "0.8" (all alike) or "0 0.5 0.8 1.2" (commas or spaces).
    Raises ValueError (not a number, a wrong count) or CharRNNError (a value out of range) with the reason."""
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    if not parts:
        parts = ["0"]
    values = [float(p) for p in parts]  # ValueError names the bad one
    for v in values:  # the same rule as --temperature's (CharRNNError: NaN, infinite, negative, too large)
        GenerationSettings(1, v, 0).validate(min_length=1)
    if len(values) == 1:
        return values * columns
    if len(values) != columns:
        raise ValueError(f"give one temperature, or one per column ({columns}; got {len(values)})")
    return values


class GenerationScreen(Screen):
    @dataclass
    class InspectRequested(Message):
        """Open the views inside `model` (surprise first) on `text`, over this screen."""

        model: Any
        vocab: Any
        text: str
        title: str

    CSS_PATH = "generation.tcss"
    BINDINGS = [
        # Enter in any field generates (the prime's title says so); the footer must fit 80 columns.
        Binding("ctrl+g", "generate", "Generate", priority=True, show=False),
        Binding("ctrl+n", "more", "More", priority=True),
        Binding("ctrl+s", "stop", "Stop", priority=True, show=False),  # the status line names it while it streams
        Binding("ctrl+r", "reset", "Clear", priority=True),  # the text and the prime (the footer is compact at 80)
        Binding("ctrl+l", "columns", "Cols", priority=True),
        Binding("f5", "refresh_weights", "Refresh", priority=True),
        Binding("ctrl+b", "switch_weights", "Weights", priority=True),  # a run's best <-> last weights
        # The same key where the run holds one set: not in the footer, it says why in the status line.
        Binding("ctrl+b", "one_weight_set", "Weights", priority=True, show=False),
        Binding("ctrl+o", "inspect", "Inside", priority=True),
        Binding("escape", "back", "Back"),
    ]

    class RefreshWeights(Message):
        """Asks the app for a fresh copy of the training run's weights; it answers with `use_weights`."""

    @dataclass
    class Done(Message):
        """The generation worker's run `run` ended (`error` says why, when it failed)."""

        run: int
        error: str = ""

    def __init__(
        self,
        model: Any,
        vocab: Vocab,
        default_prime: str,
        title: str,
        seed: int | None = None,
        step: int | None = None,
        live: bool = False,
        weights: WeightSets | None = None,
    ) -> None:
        """model: None in tests that feed fixed tokens through show_tokens(). step: the training step the
        weights are from. live: the weights are a copy taken from a run that may still be training, so
        F5 (a RefreshWeights message to the app) can take a fresh one. weights: the run's sets (best and last,
        `model` the one in use), which Ctrl+B switches between; with one set, Ctrl+B says why there is no other."""
        super().__init__()
        self.model = model
        self.vocab = vocab
        self.default_prime = default_prime
        self.title_text = title
        self.seed = seed
        self.step = step
        self.live = live
        self.weights = weights
        self.generator = None  # built on first use: generate.py imports torch
        self._gen_lock = threading.Lock()  # one generation at a time touches the generator's state
        self._stop = threading.Event()
        self._queue: deque[tuple[int, tuple[Token, ...]]] = deque()  # worker -> UI; thread-safe append/popleft
        self._run = 0  # tokens of an older run, still in flight, are dropped
        self.generating = False
        self._last: Token | None = None
        self._target = 0
        self.columns = 1
        self._rows = 1  # rows of the text on screen (columns may have changed since)
        self._temps: list[float] = [0.8]

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="gen-controls"):
            yield PrimeInput(placeholder="empty: corpus's first line", id="prime")  # whole at 80 columns
            yield SafeInput("500", type="integer", id="length")
            yield SafeInput("0.8", restrict=r"[0-9eE.,+\- ]*", id="temperature")
            yield SafeInput("0", type="integer", id="top-k")
        yield Static(id="gen-status", markup=False)
        with Horizontal(id="gen-body"):
            with Grid(id="gen-panes"):
                for i in range(max(COLUMNS)):
                    yield GeneratedText(id=f"gen-pane-{i}", classes="gen-pane")
            with Vertical(id="gen-side"):
                yield Static(id="candidates")
                yield Static(legend_text(), id="legend")
        yield Static(id="gen-weights", markup=False)
        yield Footer(compact=True)  # nine keys and the palette fit 80 columns

    @property
    def panes(self) -> list[GeneratedText]:
        return list(self.query(".gen-pane").results(GeneratedText))

    def on_mount(self) -> None:
        self.sub_title = one_line(self.title_text)  # a run or corpus name: untrusted
        self.query_one("#prime").border_title = "prime (Enter generates)"
        self.query_one("#length").border_title = "length"
        self.query_one("#temperature").border_title = "temperature"
        self.query_one("#top-k").border_title = "top-k"
        self.query_one("#gen-side").border_title = "top guesses, last step"
        self.query_one("#candidates", Static).update(candidates_text(None))
        self._show_weights()
        self._layout()
        self.status("Type a prime (or leave it empty) and press Enter. temperature 0 is argmax; top-k 0 keeps all.")
        self.query_one("#prime", Input).focus()
        self.set_interval(1 / FLUSH_HZ, self._flush)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # F5 is offered only where a newer copy can exist: weights taken from a run still in the app; Ctrl+B only
        # where the run holds a second set (else its twin binding says why not).
        if action in ("switch_weights", "one_weight_set"):
            return (self.weights is not None and self.weights.both) == (action == "switch_weights")
        return self.live if action == "refresh_weights" else True

    def on_resize(self) -> None:
        self._layout()

    def status(self, message: str, error: bool = False) -> None:
        self.query_one("#gen-status", Static).update(Text(escape(message), style="bold red" if error else ""))

    def _show_weights(self) -> None:
        line = self.query_one("#gen-weights", Static)
        if self.step is None:
            line.display = False
            return
        line.display = True
        line.update(weights_line(self.weights, self.step, self.live))

    def _layout(self) -> None:
        """Show `columns` panes: side by side, or 2 x 2 for 4 below WIDE columns; the candidates only for one."""
        n = self.columns
        grid = self.query_one("#gen-panes", Grid)
        across = n if n < 4 or self.size.width >= WIDE else 2
        grid.styles.grid_size_columns = across
        grid.styles.grid_size_rows = (n + across - 1) // across
        for i, pane in enumerate(self.panes):
            pane.display = i < n
        self.query_one("#gen-side").display = n == 1
        self._title_panes()

    def _title_panes(self) -> None:
        for i, pane in enumerate(self.panes):
            if self.columns == 1:
                pane.border_title = "generated text (the prime underlined)"
            elif i < len(self._temps) and self._rows == self.columns:
                pane.border_title = f"temperature {self._temps[i]:g}"
            else:
                pane.border_title = f"column {i + 1}"

    # ---- settings --------------------------------------------------------------------------------------
    def _settings(self) -> tuple[int, list[float], int] | None:
        # The same checks as --generate-only's (sampling.py), with the pane's own length cap; one temperature
        # per column.
        values = [self.query_one(f"#{name}", Input).value for name in ("length", "top-k")]
        if not values[0].strip():  # parse() reads an empty field as 0: "(got 0)" would name a value never typed
            self.status(f"length is empty: type how many characters to generate (1 to {MAX_LENGTH:,})", error=True)
            return None
        try:
            s = GenerationSettings.parse(values[0], "0", values[1]).validate(min_length=1, max_length=MAX_LENGTH)
        except CharRNNError as e:
            self.status(str(e), error=True)
            return None
        try:
            temps = parse_temperatures(self.query_one("#temperature", Input).value, self.columns)
        except (ValueError, CharRNNError) as e:
            self.status(f"temperature: {e}", error=True)
            return None
        return s.length, temps, s.top_k

    # ---- actions -----------------------------------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_generate()

    def on_prime_input_held(self, message: PrimeInput.Held) -> None:
        # The field shows a held prime's end only: the status line says so, once (not at every key typed after).
        size = prime_size(message.prime_input.prime)
        self.status(f"The prime is {size}; the model reads all of it. Enter generates; Ctrl+U clears it.")

    def action_generate(self) -> None:
        """Start over from the prime, with a fresh state."""
        settings = self._settings()
        if settings is None:
            return
        prime = self.query_one("#prime", PrimeInput).prime or self.default_prime
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
        if self._rows != self.columns or (self.model is not None and self.generator is None):
            self.status("Nothing to continue in these columns: press Enter to generate first.", error=True)
            return
        if self.generator is not None and self.generator.logits is None:
            self.status("Nothing to continue yet: press Enter to generate first.", error=True)
            return
        settings = self._settings()
        if settings is not None:
            self._begin(None, *settings)

    def action_columns(self) -> None:
        """1 -> 2 -> 4 columns; the next Enter generates that many continuations."""
        self.columns = COLUMNS[(COLUMNS.index(self.columns) + 1) % len(COLUMNS)]
        self._layout()
        if self.columns == 1:
            self.status("1 column. Enter generates.")
        else:
            example = " ".join(["0", "0.5", "0.8", "1.2"][: self.columns])
            self.status(
                f"{self.columns} columns: Enter generates {self.columns} continuations of the prime. "
                f"temperature: one value for all, or {self.columns} (e.g. {example})."
            )

    def action_refresh_weights(self) -> None:
        self.status("asking for a fresh copy of the weights...")
        self.post_message(self.RefreshWeights())

    def use_weights(
        self, model: Any, step: int | None, title: str | None = None, weights: WeightSets | None = None
    ) -> None:
        """Generate from now on with `model` (a fresh copy of the weights at `step`); the text is cleared. With
        `weights` (fresh copies of the run's sets, F5), the set in use stays the one chosen with Ctrl+B."""
        if weights is not None:
            if self.weights is not None and self.weights.both and weights.both:
                weights.in_use = self.weights.in_use
            model, step, title = weights.model, weights.step, weights.title
        self.weights = weights
        self._use(model, step, title)

    def _use(self, model: Any, step: int | None, title: str | None) -> None:
        self._stop.set()
        with self._gen_lock:  # waits for a running stream to notice the stop
            self.model = model
            self.generator = None
        self.step = step
        if title is not None:
            self.title_text, self.sub_title = title, one_line(title)
        self._show_weights()
        self._clear()  # the prime typed stays: it is the text to try the fresh weights on
        words = self.weights.phrase() if self.weights is not None else f"the weights of step {step:,}"
        self.status(f"Now generating with {words}, from a fresh state. Press Enter.")

    def action_switch_weights(self) -> None:
        """Ctrl+B: generate with the run's other set of weights (best <-> last), from a fresh state. Both are
        copies: the training's own model is never touched."""
        if self.weights is not None and self.weights.both:
            self._use(self.weights.switch(), self.weights.step, self.weights.title)

    def action_one_weight_set(self) -> None:
        """Ctrl+B where the run holds one set of weights: say why there is no other, in one line."""
        why = self.weights.alone if self.weights is not None else "these weights are the only ones here"
        self.status(f"No other weights: {why}.")

    def action_stop(self) -> None:
        if self.generating:
            self._stop.set()

    def action_reset(self) -> None:
        """Ctrl+R: clear the text, the candidates and the prime; the model starts from a fresh state."""
        self._clear()
        self.query_one("#prime", Input).value = ""
        self.status("Cleared the text and the prime. Type a prime (or leave it empty) and press Enter.")

    def _clear(self) -> None:
        """Empty the panes and the candidates and reset the recurrent state; the fields stay as typed."""
        self._stop.set()
        self._run += 1
        self._queue.clear()
        if self.generator is not None:
            with self._gen_lock:
                self.generator.reset()
        self._last = None
        self.generating = False
        for pane in self.panes:
            pane.clear()
        self.query_one("#candidates", Static).update(candidates_text(None))

    def action_inspect(self) -> None:
        """The Surprise view (and from it the Cells view) of this model on the text in the pane."""
        text = self.query_one(GeneratedText).plain or self.default_prime
        self.post_message(self.InspectRequested(self.model, self.vocab, text, self.title_text))

    def action_back(self) -> None:
        if self.generating:
            self.action_stop()
        else:
            self.app.pop_screen()

    # ---- the stream --------------------------------------------------------------------------------
    def _begin(self, prime: str | None, length: int, temps: list[float], top_k: int) -> None:
        self._stop.set()  # a running stream ends at its next character; the lock orders the two
        self._stop = threading.Event()
        self._run += 1
        self._queue.clear()
        panes = self.panes[: self.columns]
        if prime is not None:
            for pane in self.panes:
                pane.clear()
            for pane in panes:
                pane.add_prime(prime[-PRIME_SHOWN:])
        self._rows, self._temps = self.columns, temps
        self._title_panes()
        self.generating = True
        self._target = panes[0].n_chars + length
        what = f"{length} characters" + (f" in each of {self.columns} columns" if self.columns > 1 else "")
        if prime is not None and len(prime) > PRIME_SHOWN:  # reading it takes a while: say what is read, and shown
            what = f"{what} after the prime ({prime_size(prime)}; the pane shows its last {PRIME_SHOWN:,})"
        self.status(f"generating {what}... Ctrl+S or Esc stops.")
        if self.model is not None:
            seeds = [None if self.seed is None else self.seed + i for i in range(self.columns)]
            self._stream(self._run, self._stop, prime, length, temps, top_k, seeds)

    @work(thread=True, exit_on_error=False, group="generate")
    def _stream(
        self, run: int, stop: threading.Event, prime: str | None, length: int, temps: list, top_k: int, seeds: list
    ) -> None:
        error = ""
        try:
            with self._gen_lock:
                if self.generator is None:
                    from charrnn_tui.generation.generator import Generator

                    self.generator = Generator(self.model, self.vocab, rows=len(temps))
                fed = True
                if prime is not None:
                    self.generator.reset(rows=len(temps))
                    fed = self.generator.feed(prime, stop.is_set)  # False: stopped while reading a long prime
                for tokens in self.generator.sample_rows(length, temps, top_k, seeds) if fed else ():
                    if stop.is_set():
                        break
                    self._queue.append((run, tokens))
        except Exception as e:  # shown in the status line; the app keeps running
            error = f"generation failed: {type(e).__name__}: {e}"
        self.post_message(self.Done(run, error))

    def show_tokens(self, prime: str | None, tokens: list[Token] | list[tuple[Token, ...]]) -> None:
        """Stream fixed tokens through the same path as the model's (for tests and demos): Tokens for one
        column, or tuples of one Token per column."""
        settings = self._settings() or (len(tokens), [0.0] * self.columns, 0)
        self._begin(prime, max(len(tokens), 1), settings[1], settings[2])
        for tok in tokens:
            self._queue.append((self._run, tok if isinstance(tok, tuple) else (tok,)))
        self.post_message(self.Done(self._run))

    def _flush(self) -> None:
        if not self._queue:
            return
        steps = []
        for _ in range(len(self._queue)):
            run, tokens = self._queue.popleft()
            if run == self._run:
                steps.append(tokens)
        if not steps:
            return
        self._last = steps[-1][0]
        with self.app.batch_update():
            for i, pane in enumerate(self.panes[: len(steps[0])]):
                pane.add_tokens(step[i] for step in steps)
            if self.columns == 1:
                cand = self.query_one("#candidates", Static)
                cand.update(candidates_text(self._last, cand.content_region.width or 26), layout=False)

    @on(Done)
    def _generation_done(self, message: Done) -> None:
        if message.run != self._run:
            return
        self._flush()
        self.generating = False
        if message.error:
            self.status(message.error, error=True)
            return
        n = self.panes[0].n_chars
        stopped = " (stopped)" if n < self._target else ""
        each = " in each column" if self._rows > 1 else ""
        self.status(f"{n} characters generated{each}{stopped}. Ctrl+N continues, Enter starts over, Ctrl+R clears.")
