"""Generation: feed a prime once, then one recurrent step per new character, the state carried.

Calling `nn.LSTM` once per character is slow on a CPU (a fixed cost of milliseconds per call, well
beyond the product itself), so an LSTM on the CPU steps through `_LSTMStepper` instead: the same fp32
arithmetic written as one matrix-vector product per layer into preallocated buffers. Several
continuations of one prime ("rows") step together with one matrix-matrix product per layer, which reads
the weights once for all of them. Other cells and devices use the model itself. docs/benchmarks.md has
the figures.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator, Sequence

import torch

from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.generation.settings import MAX_SAMPLES
from charrnn_tui.model.charrnn import CharRNN, State
from charrnn_tui.text.vocab import Vocab

# A prime longer than this goes through the model in one pass (nn.LSTM is efficient over a sequence);
# shorter text, like a few typed characters, is cheaper one step at a time.
FEED_STEP_MAX = 16
WEIGHTS = ("fp32", "int8")
MAX_ROWS = MAX_SAMPLES  # continuations stepped together; the bound lives in sampling.py, checked before torch
TEXT_KEEP = 10_000  # characters of text a Generator keeps per row (`Generator.text`); the rest is the caller's
# Below this temperature sampling is argmax: logits / temperature would overflow float32 (1e-40 gives inf,
# and softmax of inf is NaN), and long before that the distribution is one-hot (odds e^-100 at a gap of 0.01).
MIN_TEMPERATURE = 1e-4


class Token:
    """One generated character.

    char: the character; prob: the probability the model gave it (at temperature 1); top: the likeliest
    characters at that step, (character, probability) pairs, likeliest first, () when none were asked for.
    A Token from `Generator.sample_rows` turns its step's candidates into Python objects only when `top`
    is first read (the generation screen reads one per redraw, the CLI none); equal Tokens compare equal.
    """

    __slots__ = ("_row", "_top", "char", "prob")

    def __init__(
        self,
        char: str,
        prob: float,
        top: tuple[tuple[str, float], ...] = (),
        *,
        _rows: _RowsTop | None = None,  # sample_rows: the step's candidates, row _row of them read on demand
        _row: int = 0,
    ) -> None:
        self.char, self.prob = char, prob
        self._top, self._row = (top if _rows is None else _rows), _row

    @property
    def top(self) -> tuple[tuple[str, float], ...]:
        if type(self._top) is _RowsTop:
            self._top = self._top.row(self._row)
        return self._top

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Token):
            return NotImplemented
        return (self.char, self.prob, self.top) == (other.char, other.prob, other.top)

    def __hash__(self) -> int:
        return hash((self.char, self.prob, self.top))

    def __repr__(self) -> str:
        return f"Token(char={self.char!r}, prob={self.prob!r}, top={self.top!r})"


class _RowsTop:
    """One step's candidates for every row, as tensors (rows, top_n), until a Token's `top` asks."""

    __slots__ = ("chars", "ids", "probs")

    def __init__(self, probs: torch.Tensor, ids: torch.Tensor, chars: str | Sequence[str]) -> None:
        self.probs, self.ids, self.chars = probs, ids, chars

    def row(self, r: int) -> tuple[tuple[str, float], ...]:
        chars = self.chars
        return tuple(zip([chars[i] for i in self.ids[r].tolist()], self.probs[r].tolist(), strict=True))


def _weights_version(model: CharRNN) -> int:
    # Every in-place change to a parameter (an optimiser step, load_state_dict) bumps its version,
    # so a changed sum tells the stepper its copied weights are stale.
    return sum(p._version for p in model.parameters())


def _on_huge_pages(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """Copies of `tensors` in one buffer the kernel is asked to back with 2 MB pages.

    Each step reads every weight once, ~5,000 pages of 4 KB for the tutorial model, and the TLB misses
    show: 2 MB pages made the step up to a fifth faster here (docs/benchmarks.md). Where huge pages are
    not offered (another OS, a kernel set to "never"), the copies are ordinary tensors.
    """
    huge, align = 2 << 20, 64
    sizes = [(t.numel() * t.element_size() + align - 1) // align * align for t in tensors]
    try:
        buf = mmap.mmap(-1, sum(sizes) + huge, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        buf.madvise(mmap.MADV_HUGEPAGE)
    except (AttributeError, OSError, ValueError):
        return [t.contiguous().clone() for t in tensors]
    raw = torch.frombuffer(buf, dtype=torch.uint8)  # keeps `buf` alive
    at = -raw.data_ptr() % huge
    out = []
    for t, size in zip(tensors, sizes, strict=True):
        view = raw[at : at + t.numel() * t.element_size()].view(t.dtype).view(t.shape)
        out.append(view.copy_(t))
        at += size
    return out


class _LSTMStepper:
    """One LSTM step per character for `rows` continuations at once, no allocation per step.

    Layer 0's input projection of every character is precomputed as a table (embedding or one-hot
    times W_ih, plus both biases), so the layer costs one W_hh product. For deeper layers W_ih and
    W_hh are concatenated, and the hidden states of all layers live side by side in one buffer per row,
    so the input of layer l, [h(l-1) new ; h(l) old], is a contiguous slice: one product per layer.

    `step` advances row 0 alone with matrix-vector products (batch 1, as fast as before rows existed);
    `step_rows` advances every row with one matrix-matrix product per layer, which reads each weight
    once for all rows: batch 1 is bound by reading the weights, so N rows cost little more than one.

    `int8=True` stores the weights as int8 with one scale per output row (a quarter of the bytes) and
    multiplies in bf16; the state and the gates stay fp32.
    """

    def __init__(self, model: CharRNN, int8: bool = False, rows: int = 1) -> None:
        self.n_layers, self.hidden, self.int8, self.vocab_size = model.n_layers, model.hidden, int8, model.vocab_size
        self.resize(rows)
        self.load(model)

    def resize(self, rows: int) -> None:
        """Buffers for `rows` continuations, all zero state.

        The rows' gates and cell states are stored feature-major, (features, rows): a product W @ H.T
        with W row-major streams W once, where H @ W.T is 2-3x slower at a few rows (measured with MKL
        here). The hidden states are row-major, (rows, layers x hidden), so that a layer's input
        [h(l-1) new ; h(l) old] stays one slice per row; so are the logits, (rows, vocab), which the
        sampler reduces along a row (and W @ H with H feature-major was 3-4x slower again)."""
        n = self.n_layers * self.hidden
        self.rows = rows
        self.h = torch.zeros(rows, n)  # row r: h of layer 0, layer 1, ... side by side
        self.h16 = torch.zeros(rows, n, dtype=torch.bfloat16) if self.int8 else None
        self.c = torch.zeros(self.n_layers, self.hidden, rows)
        self.gates = torch.empty(4 * self.hidden, rows)
        # The logits are row-major, (rows, vocab): the sampler's softmax, cumsum and search run along a row.
        self.logits = torch.empty(rows, self.vocab_size)
        # Row 0's views, made once: the batch-1 step must not pay for slicing. With one row they are
        # contiguous, as before rows existed.
        self.h1, self.c1, self.gates1, self.logits1 = self.h[0], self.c[:, :, 0], self.gates[:, 0], self.logits[0]
        self.h16_1 = self.h16[0] if self.int8 else None
        # ... and the views step_rows works on, per layer: its input (features, rows), its h out, the gates.
        hid, g = self.hidden, self.gates
        self.x_t = [self.h[:, max(0, lo - hid) : lo + hid].t() for lo in range(0, n, hid)]
        self.h_t = [self.h[:, lo : lo + hid].t() for lo in range(0, n, hid)]
        # sigmoid span (input, forget), tanh span (cell), output; then input, forget, cell for c.
        sig, cell = g[: 2 * hid], g[2 * hid : 3 * hid]
        self.g_ifgo = (sig, cell, g[3 * hid :], g[:hid], g[hid : 2 * hid], cell)
        self.last = self.h[:, n - hid :]

    @torch.no_grad()
    def load(self, model: CharRNN) -> None:
        rnn = model.rnn
        w_ih0 = rnn.weight_ih_l0.float()
        bias0 = (rnn.bias_ih_l0 + rnn.bias_hh_l0).float()
        if model.embed is not None:
            self.table = torch.addmm(bias0, model.embed.weight.float(), w_ih0.t())
        else:
            self.table = (w_ih0.t() + bias0).contiguous()  # one-hot row i selects column i
        ws = [rnn.weight_hh_l0.float()]
        self.b = [None]
        for layer in range(1, self.n_layers):
            w_ih, w_hh = getattr(rnn, f"weight_ih_l{layer}"), getattr(rnn, f"weight_hh_l{layer}")
            ws.append(torch.cat([w_ih, w_hh], 1).float())
            self.b.append((getattr(rnn, f"bias_ih_l{layer}") + getattr(rnn, f"bias_hh_l{layer}")).float())
        if self.int8:
            pairs = [_int8_rows(w) for w in ws]
            self.w = list(zip(_on_huge_pages([q for q, _ in pairs]), [s for _, s in pairs], strict=True))
        else:
            self.w = _on_huge_pages(ws)
        self.head_w = model.head.weight.float().contiguous()
        self.head_b = model.head.bias.float().clone()
        self.version = _weights_version(model)

    def step(self, idx: int) -> torch.Tensor:
        """Advance row 0 by one character; returns its logits buffer (overwritten by the next step)."""
        hid, h, c, gates = self.hidden, self.h1, self.c1, self.gates1
        for layer in range(self.n_layers):
            lo = layer * hid
            bias, start = (self.table[idx], 0) if layer == 0 else (self.b[layer], lo - hid)
            if self.int8:
                q, scale = self.w[layer]
                torch.add(bias, torch._weight_int8pack_mm(self.h16_1[None, start : lo + hid], q, scale)[0], out=gates)
            else:
                torch.addmv(bias, self.w[layer], h[start : lo + hid], out=gates)
            # PyTorch's gate order is input, forget, cell, output.
            gates[: 2 * hid].sigmoid_()
            gates[2 * hid : 3 * hid].tanh_()
            gates[3 * hid :].sigmoid_()
            c_l, h_l = c[layer], h[lo : lo + hid]
            c_l.mul_(gates[hid : 2 * hid]).addcmul_(gates[:hid], gates[2 * hid : 3 * hid])
            torch.tanh(c_l, out=h_l)
            h_l.mul_(gates[3 * hid :])
            if self.int8:
                self.h16_1[lo : lo + hid] = h_l
        return torch.addmv(self.head_b, self.head_w, h[-hid:], out=self.logits1)

    def step_rows(self, ids: torch.Tensor) -> torch.Tensor:
        """Advance every row by one character, ids: (rows,) int64; returns the (rows, vocab) logits buffer."""
        c, gates, h_t = self.c, self.gates, self.h_t
        sig, tanh, out, i, f, g = self.g_ifgo
        for layer, x in enumerate(self.x_t):
            bias = self.table.index_select(0, ids).t() if layer == 0 else self.b[layer][:, None]
            if self.int8:
                q, scale = self.w[layer]
                # Rows read h itself (self.h16 is batch 1's): a bf16 copy of a few rows costs nothing.
                x16 = x.t().to(torch.bfloat16).contiguous()
                torch.add(bias, torch._weight_int8pack_mm(x16, q, scale).t(), out=gates)
            else:
                torch.addmm(bias, self.w[layer], x, out=gates)
            sig.sigmoid_()
            tanh.tanh_()
            out.sigmoid_()
            c_l, h_l = c[layer], h_t[layer]
            c_l.mul_(f).addcmul_(i, g)
            torch.tanh(c_l, out=h_l)
            h_l.mul_(out)
        return torch.addmm(self.head_b, self.last, self.head_w.t(), out=self.logits)

    def copy_row0(self) -> None:
        """Every row takes row 0's state and logits (a shared prime, then rows that go their own ways)."""
        self.h[1:] = self.h[:1]
        self.c[:, :, 1:] = self.c[:, :, :1]
        self.logits[1:] = self.logits[:1]
        if self.int8:
            self.h16[1:] = self.h16[:1]

    def get_state(self, rows: int | None = None) -> State:
        """The state of the first `rows` rows (default all), in nn.LSTM's layout (layers, rows, hidden)."""
        rows = self.rows if rows is None else rows
        h = self.h[:rows].view(rows, self.n_layers, self.hidden).transpose(0, 1)
        return h.contiguous(), self.c[:, :, :rows].transpose(1, 2).contiguous()

    def set_state(self, state: State | None) -> None:
        """A state of batch 1 is copied into every row; otherwise its batch must be `rows`."""
        if state is None:
            self.h.zero_()
            self.c.zero_()
        else:
            h, c = state
            self.h.copy_(h.transpose(0, 1).reshape(h.shape[1], -1))
            self.c.copy_(c.transpose(1, 2))
        if self.int8:
            self.h16.copy_(self.h)


def _int8_rows(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 with one scale per output row, the layout torch._weight_int8pack_mm takes."""
    scale = w.abs().amax(1).clamp(min=1e-12) / 127
    return (w / scale[:, None]).round().to(torch.int8).contiguous(), scale.to(torch.bfloat16)


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
        Raises CharRNNError for unknown weights or rows out of range."""
        if weights not in WEIGHTS:
            raise CharRNNError(f"weights must be one of {', '.join(WEIGHTS)} (got {weights!r})")
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
        self._stepper = _LSTMStepper(model, int8=weights == "int8", rows=self.rows) if fast else None
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
        if self._stepper is not None and self._stepper.version != _weights_version(self.model):
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
    def feed(self, text: str) -> None:
        """Advance the state over `text` (the prime, or user text typed mid-stream), in every row."""
        if not text:
            return
        ids = self.vocab.encode(text)
        self._check_weights()
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
        for tail in self._tails:
            tail.append(text)

    @torch.no_grad()
    def sample(self, length: int, temperature: float = 1.0, top_k: int = 0, seed: int | None = None) -> Iterator[Token]:
        """Yield `length` characters (one row only). temperature 0 is argmax (the tutorial's way; so is any
        temperature too small to divide by); top_k > 0 keeps only the k most likely characters. Stop early
        by no longer iterating: the state stays consistent. Raises ValueError before a prime was fed."""
        if self.logits is None:
            raise ValueError("feed a prime before sampling")
        if self.rows != 1:
            raise ValueError(f"this Generator steps {self.rows} rows: use sample_rows")
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        chars, top_n = self.vocab.chars, self.top_n
        truncate = 0 < top_k < len(chars)
        greedy = temperature < MIN_TEMPERATURE
        tail = self._tails[0]
        self._check_weights()
        for _ in range(length):
            logits = self.logits[0].float().cpu()
            probs = torch.softmax(logits, -1)
            if top_n:
                top_p, top_i = probs.topk(top_n)
                top_ids, top_ps = top_i.tolist(), top_p.tolist()
            if greedy:
                idx = top_ids[0] if top_n else int(probs.argmax())
            else:
                scaled = logits / temperature
                if truncate:
                    kth = scaled.topk(top_k).values[-1]
                    scaled = scaled.masked_fill(scaled < kth, float("-inf"))
                cdf = torch.softmax(scaled, -1).cumsum_(-1)
                idx = int(torch.searchsorted(cdf, _uniform(gen).mul_(cdf[-1])))
            prob = float(probs[idx])
            top = tuple(zip([chars[i] for i in top_ids], top_ps, strict=True)) if top_n else ()
            token = Token(chars[idx], prob, top)
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
        chars, top_n, tails = self.vocab.chars, self.top_n, self._tails
        greedy = [t < MIN_TEMPERATURE for t in temps]
        # One op per step for all rows: greedy rows divide by 1 and search at u = 1 (no draw), then take
        # the argmax instead; the division and the search are the same arithmetic as batch 1's, row by row.
        temps_col = torch.tensor([1.0 if g else t for t, g in zip(temps, greedy, strict=True)])[:, None]
        greedy_col = torch.tensor(greedy)[:, None] if any(greedy) and not all(greedy) else None
        draws = _RowDraws(seeds, greedy) if not all(greedy) else None
        truncate = 0 < top_k < len(chars)
        for _ in range(length):
            logits = self.logits.float().cpu()
            probs = torch.softmax(logits, -1)
            if top_n:
                top_p, top_i = probs.topk(top_n, -1)
            if draws is None:
                idx = top_i[:, :1] if top_n else probs.argmax(-1, keepdim=True)
            else:
                scaled = logits / temps_col
                if truncate:
                    kth = scaled.topk(top_k, -1).values[:, -1:]
                    scaled = scaled.masked_fill(scaled < kth, float("-inf"))
                cdf = torch.softmax(scaled, -1).cumsum_(-1)
                idx = torch.searchsorted(cdf, draws.next().mul(cdf[:, -1:]))
                if greedy_col is not None:
                    idx = torch.where(greedy_col, top_i[:, :1] if top_n else probs.argmax(-1, keepdim=True), idx)
            # One conversion to Python for all rows' characters and one for their probabilities; the
            # candidates stay tensors until a Token's `top` is read.
            cands = _RowsTop(top_p, top_i, chars) if top_n else None
            tokens = tuple(
                Token(chars[i], p, _rows=cands, _row=r)
                for r, ((i,), (p,)) in enumerate(zip(idx.tolist(), probs.gather(1, idx).tolist(), strict=True))
            )
            self._step_rows(idx.view(-1))
            for tail, tok in zip(tails, tokens, strict=True):
                tail.append(tok.char)
            yield tokens

    def _step_rows(self, x: torch.Tensor) -> None:
        if self._stepper is not None:
            self.logits = self._stepper.step_rows(x)
        else:
            logits, self._state = self.model(x.to(self.device)[:, None], self._state)
            self.logits = logits[:, -1]


class _RowDraws:
    """Each row's uniforms in (0, 1], from the row's own generator, as `_uniform` draws them, taken from
    the generators in blocks: `next()` is the (rows, 1) draws of one step, 1 for rows that do not draw.

    A block of n draws from a CPU generator is the same numbers as n single draws (tested), so row i
    draws what batch 1 draws with its seed; one call per row per BLOCK steps instead of one per step.
    """

    BLOCK = 256

    def __init__(self, seeds: Sequence[int | None], skip: Sequence[bool]) -> None:
        self.gens = [None if s is None else torch.Generator().manual_seed(s) for s in seeds]
        self.skip = skip
        self.at = self.BLOCK

    def next(self) -> torch.Tensor:
        if self.at == self.BLOCK:
            self.block = torch.ones(self.BLOCK, len(self.gens), 1)  # new, so that earlier steps' rows stay put
            for r, (gen, skip) in enumerate(zip(self.gens, self.skip, strict=True)):
                if not skip:
                    self.block[:, r, 0] = torch.rand(self.BLOCK, generator=gen).neg_().add_(1)
            self.at = 0
        self.at += 1
        return self.block[self.at - 1]


def _uniform(gen: torch.Generator | None) -> torch.Tensor:
    """One draw in (0, 1], shape (1,).

    A character is drawn by inverting the cumulative distribution at it: the first index whose cumulative
    probability reaches u x total. u > 0 never lands on a character of probability 0 (top-k's cut), and
    u x total <= total never runs past the end. One draw costs a few us where torch.multinomial draws one
    exponential per vocabulary entry (~20 us a call here).
    """
    return torch.rand(1, generator=gen).neg_().add_(1)


def _check_rows(rows: int) -> int:
    if not 1 <= rows <= MAX_ROWS:
        raise CharRNNError(f"rows (continuations stepped together) must be 1 to {MAX_ROWS} (got {rows})")
    return rows
