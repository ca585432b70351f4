"""Generation: feed a prime once, then one recurrent step per new character, the state carried.

An LSTM on the CPU steps through `stepper.LSTMStepper` (nn.LSTM costs milliseconds a call); several
continuations of one prime ("rows") step together with one matrix-matrix product per layer, which reads
the weights once for all of them. Other cells and devices use the model itself. The next character is
chosen by `pick.pick`, the same for one row and many. docs/benchmarks.md has the figures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch

from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.generation.pick import MIN_TEMPERATURE, RowDraws, own_generator, pick, uniform
from charrnn_tui.generation.settings import MAX_SAMPLES
from charrnn_tui.generation.stepper import LSTMStepper, weights_version
from charrnn_tui.generation.tokens import RowsTop, Token
from charrnn_tui.model.charrnn import CharRNN, State
from charrnn_tui.text.vocab import Vocab

# A prime longer than this goes through the model in one pass (nn.LSTM is efficient over a sequence);
# shorter text, like a few typed characters, is cheaper one step at a time.
FEED_STEP_MAX = 16
# A longer text goes through the model this many characters at a time, the state carried: one call's
# activations (layers x chunk x hidden, and chunk x vocab logits) stay a few MB for any prime, where a
# 1 MB prime in one call needed gigabytes (docs/benchmarks.md).
FEED_CHUNK = 1024
WEIGHTS = ("fp32", "int8")
MAX_ROWS = MAX_SAMPLES  # continuations stepped together; the bound lives in sampling.py, checked before torch
TEXT_KEEP = 10_000  # characters of text a Generator keeps per row (`Generator.text`); the rest is the caller's


def refuse_non_finite(model: torch.nn.Module) -> None:
    """Raises CharRNNError when any weight of `model` is NaN or infinite: every character it would write is
    chosen from NaN logits, which is noise (or the first character of the vocabulary for ever), not text."""
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        raise CharRNNError(
            "these weights hold NaN or infinite values (their training diverged): generate from an earlier "
            "checkpoint, or train again with a lower learning rate"
        )


class _Tail:
    """The last `keep` characters of a text that grows a character at a time, in bounded memory.

    A list of one-character strings costs ~60-90 bytes a character (a CJK character is its own object),
    so pieces are joined every JOIN_EVERY appends and the joined text cut to its last `keep` characters:
    memory stays below ~keep x 4 + JOIN_EVERY x 90 bytes however long generation runs.
    """

    JOIN_EVERY = 4096

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.pieces: list[str] = []

    def append(self, text: str) -> None:
        self.pieces.append(text)
        if len(self.pieces) > self.JOIN_EVERY:
            self.text  # noqa: B018 (joins and cuts)

    @property
    def text(self) -> str:
        if len(self.pieces) != 1:
            self.pieces = ["".join(self.pieces)[-self.keep :]] if self.keep else [""]
        elif len(self.pieces[0]) > self.keep:
            self.pieces = [self.pieces[0][-self.keep :]]
        return self.pieces[0]


class Generator:
    """Holds a model's recurrent state between calls, so text can be continued where it stopped.

    `rows` continuations of one shared prime can be stepped together (`sample_rows`): text fed while
    all rows are alike (after `reset`) goes through the model once, at batch 1, and the rows part at
    their first sampled character. Batch 1 reads every weight once per character, so N rows cost little
    more than one (docs/benchmarks.md).

    Memory does not grow with the length generated: the text is kept only as a bounded tail per row
    (`text`, `texts`), and the yielded Tokens are the caller's to keep or drop.
    """

    def __init__(
        self,
        model: CharRNN,
        vocab: Vocab,
        top_n: int = 5,
        weights: str = "fp32",
        rows: int = 1,
        keep_text: int = TEXT_KEEP,
    ) -> None:
        """top_n: how many of the likeliest next characters each Token lists (0: none, the cheapest).
        weights: "fp32" (exact) or "int8" (an LSTM on the CPU only: about 4x faster for the tutorial
        model, its argmax differs from fp32's at a fraction of a percent of steps; docs/benchmarks.md).
        rows: continuations stepped together, 1 to MAX_ROWS. keep_text: characters kept per row for `text`.
        Raises CharRNNError for unknown weights, rows out of range, and weights that hold NaN or infinity."""
        if weights not in WEIGHTS:
            raise CharRNNError(f"weights must be one of {', '.join(WEIGHTS)} (got {weights!r})")
        refuse_non_finite(model)
        self.model = model.eval()
        self.vocab = vocab
        self.top_n = min(top_n, len(vocab))
        self.keep_text = keep_text
        self.device = next(model.parameters()).device
        fast = model.cell == "lstm" and self.device.type == "cpu"
        if weights == "int8" and not fast:
            raise CharRNNError("int8 generation needs an LSTM on the CPU")
        if weights == "int8" and not hasattr(torch, "_weight_int8pack_mm"):
            raise CharRNNError(f"int8 generation needs a newer PyTorch than {torch.__version__}")
        self.rows = _check_rows(rows)
        self._stepper = LSTMStepper(model, int8=weights == "int8", rows=self.rows) if fast else None
        self.reset()

    def reset(self, rows: int | None = None) -> None:
        """Forget the state and the text; `rows` changes the number of continuations."""
        if rows is not None:
            self.rows = _check_rows(rows)
            if self._stepper is not None and self._stepper.rows != self.rows:
                self._stepper.resize(self.rows)
        self._shared = True  # all rows alike: fed at batch 1, row 0 stands for all
        self.state = None
        self.logits: torch.Tensor | None = None  # (1, vocab) while the rows are alike, else (rows, vocab)
        self._tails = [_Tail(self.keep_text) for _ in range(self.rows)]

    @property
    def text(self) -> str:
        """Row 0's text since the last reset: the last `keep_text` characters fed and generated."""
        return self._tails[0].text

    @property
    def texts(self) -> list[str]:
        """Every row's text, as `text`."""
        return [t.text for t in self._tails]

    @property
    def state(self) -> State | None:
        """The recurrent state in the model's own layout, (layers, batch, hidden), batch 1 while the rows
        are alike; None before anything was fed."""
        if self._stepper is not None and self._has_state:
            return self._stepper.get_state(1 if self._shared else None)
        return self._state

    @state.setter
    def state(self, value: State | None) -> None:
        self._state, self._has_state = value, value is not None
        if self._stepper is not None:
            self._stepper.set_state(value)

    def _step(self, idx: int) -> None:
        if self._stepper is not None:
            self.logits = self._stepper.step(idx)[None]
            self._has_state = True
        else:
            logits, self._state = self.model(torch.tensor([[idx]], device=self.device), self._state)
            self.logits = logits[:, -1]

    def _check_weights(self) -> None:
        if self._stepper is not None and self._stepper.version != weights_version(self.model):
            refuse_non_finite(self.model)  # weights changed in place (a live model) are checked again
            self._stepper.load(self.model)

    def _part(self) -> None:
        """The rows, alike so far, get their own copies of the state, to go their own ways."""
        if not self._shared or self.rows == 1:
            return
        if self._stepper is not None:
            first = self.logits.clone()  # a long prime's logits came from the model, not the stepper's buffer
            self._stepper.copy_row0()
            self._stepper.logits.copy_(first)
            self.logits = self._stepper.logits
        else:
            parts = self._state if isinstance(self._state, tuple) else (self._state,)
            grown = tuple(s.expand(-1, self.rows, -1).contiguous() for s in parts)
            self._state = grown if isinstance(self._state, tuple) else grown[0]
            self.logits = self.logits.expand(self.rows, -1).contiguous()
        self._shared = False

    @torch.no_grad()
    def feed(self, text: str, should_stop: Callable[[], bool] | None = None) -> bool:
        """Advance the state over `text` (the prime, or user text typed mid-stream), in every row.

        A text of any length: it goes through the model FEED_CHUNK characters at a time with the state
        carried, so memory stays that of one chunk (a 1 MB prime in one forward call held every layer's
        output for every character, gigabytes). should_stop() is asked between chunks; when it turns true
        the state is dropped (`reset`: a half-read prime is no place to continue from) and False returned.
        Returns True once all of `text` is read. Raises CharRNNError, before any of it is read, when the
        text holds characters the model never saw."""
        if not text:
            return True
        self.vocab.check(text)
        self._check_weights()
        for start in range(0, len(text), FEED_CHUNK):
            if start and should_stop is not None and should_stop():
                self.reset()
                return False
            self._feed_ids(self.vocab.encode(text[start : start + FEED_CHUNK]))
        kept = text[-self.keep_text :] if self.keep_text else ""  # the tails keep no more than this anyway
        for tail in self._tails:
            tail.append(kept)
        return True

    def _feed_ids(self, ids: list[int]) -> None:
        if self._shared:
            if self._stepper is not None and len(ids) <= FEED_STEP_MAX:
                for idx in ids:
                    self._step(idx)
            else:
                logits, self.state = self.model(torch.tensor([ids], device=self.device), self.state)
                self.logits = logits[:, -1]
        elif self._stepper is not None and len(ids) <= FEED_STEP_MAX:
            for idx in ids:
                self.logits = self._stepper.step_rows(torch.full((self.rows,), idx, dtype=torch.long))
        else:
            x = torch.tensor([ids], device=self.device).expand(self.rows, -1)
            logits, self.state = self.model(x, self.state)
            self.logits = logits[:, -1]

    @torch.no_grad()
    def sample(self, length: int, temperature: float = 1.0, top_k: int = 0, seed: int | None = None) -> Iterator[Token]:
        """Yield `length` characters (one row only). temperature 0 is argmax (the tutorial's way; so is any
        temperature too small to divide by); top_k > 0 keeps only the k most likely characters. Stop early
        by no longer iterating: the state stays consistent. Raises ValueError before a prime was fed, or
        when this Generator steps several rows."""
        if self.logits is None:
            raise ValueError("feed a prime before sampling")
        if self.rows != 1:
            raise ValueError(f"this Generator steps {self.rows} rows: use sample_rows")
        gen = own_generator(seed)  # not the global generator: a run training meanwhile draws its dropout there
        chars, top_n, tail = self.vocab.chars, self.top_n, self._tails[0]
        greedy = temperature < MIN_TEMPERATURE
        temps = torch.tensor([[1.0 if greedy else temperature]])
        self._check_weights()
        for _ in range(length):
            u = None if greedy else uniform(gen)[:, None]
            choice = pick(self.logits[:1].float().cpu(), temps, u, top_k=top_k, top_n=top_n)
            idx = int(choice.ids)
            top = ()
            if top_n:
                top = tuple(zip([chars[i] for i in choice.top_i[0].tolist()], choice.top_p[0].tolist(), strict=True))
            token = Token(chars[idx], float(choice.probs[0, idx]), top)
            self._step(idx)
            tail.append(token.char)
            yield token

    @torch.no_grad()
    def sample_rows(
        self,
        length: int,
        temperatures: Sequence[float],
        top_k: int = 0,
        seeds: Sequence[int | None] | None = None,
    ) -> Iterator[tuple[Token, ...]]:
        """Yield `length` steps of one Token per row, all rows stepped together.

        temperatures: one per row (0, or too small to divide by, is argmax); top_k > 0 keeps each row's
        k likeliest characters; seeds: one per row, each row drawing from its own torch.Generator, so that
        row i with seed s writes what a batch-1 Generator writes with seed s (to fp32 rounding of the
        matrix-matrix product). Raises ValueError before a prime was fed or for a wrong number of values.
        """
        if self.logits is None:
            raise ValueError("feed a prime before sampling")
        temps = [float(t) for t in temperatures]
        seeds = list(seeds) if seeds is not None else [None] * self.rows
        if len(temps) != self.rows or len(seeds) != self.rows:
            raise ValueError(f"give one temperature and one seed per row ({self.rows} rows)")
        if self.rows == 1:  # batch 1 keeps its own, faster loop
            for tok in self.sample(length, temps[0], top_k, seeds[0]):
                yield (tok,)
            return
        self._check_weights()
        self._part()
        chars, top_n = self.vocab.chars, self.top_n
        greedy = [t < MIN_TEMPERATURE for t in temps]
        temps_col = torch.tensor([1.0 if g else t for t, g in zip(temps, greedy, strict=True)])[:, None]
        greedy_col = torch.tensor(greedy)[:, None] if any(greedy) and not all(greedy) else None
        draws = RowDraws(seeds, greedy) if not all(greedy) else None
        for _ in range(length):
            u = draws.next() if draws is not None else None
            choice = pick(self.logits.float().cpu(), temps_col, u, greedy_col, top_k, top_n)
            # One conversion to Python for all rows' characters and one for their probabilities; the
            # candidates stay tensors until a Token's `top` is read.
            cands = RowsTop(choice.top_p, choice.top_i, chars) if top_n else None
            ids, probs = choice.ids.tolist(), choice.probs.gather(1, choice.ids).tolist()
            tokens = tuple(
                Token(chars[i], p, _rows=cands, _row=r) for r, ((i,), (p,)) in enumerate(zip(ids, probs, strict=True))
            )
            self._step_rows(choice.ids.view(-1))
            for tail, tok in zip(self._tails, tokens, strict=True):
                tail.append(tok.char)
            yield tokens

    def _step_rows(self, x: torch.Tensor) -> None:
        if self._stepper is not None:
            self.logits = self._stepper.step_rows(x)
        else:
            logits, self._state = self.model(x.to(self.device)[:, None], self._state)
            self.logits = logits[:, -1]


def _check_rows(rows: int) -> int:
    if not 1 <= rows <= MAX_ROWS:
        raise CharRNNError(f"rows (continuations stepped together) must be 1 to {MAX_ROWS} (got {rows})")
    return rows
