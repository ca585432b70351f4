"""Generation: feed a prime once, then one recurrent step per new character, the state carried.

Calling `nn.LSTM` once per character is slow on a CPU (a fixed cost of milliseconds per call, well
beyond the product itself), so an LSTM on the CPU steps through `_LSTMStepper` instead: the same fp32
arithmetic written as one matrix-vector product per layer into preallocated buffers. Other cells and
devices use the model itself. docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from charrnn_tui.errors import CharRNNError
from charrnn_tui.model import CharRNN, State
from charrnn_tui.vocab import Vocab

# A prime longer than this goes through the model in one pass (nn.LSTM is efficient over a sequence);
# shorter text, like a few typed characters, is cheaper one step at a time.
FEED_STEP_MAX = 16
# Below this temperature sampling is argmax: logits / temperature would overflow float32 (1e-40 gives inf,
# and softmax of inf is NaN), and long before that the distribution is one-hot (odds e^-100 at a gap of 0.01).
ARGMAX_BELOW = 1e-4
WEIGHTS = ("fp32", "int8")


@dataclass(frozen=True)
class Token:
    char: str
    prob: float  # the probability the model gave this character
    top: tuple[tuple[str, float], ...]  # the most likely next characters before this one was drawn


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
    """One batch-1 LSTM step per character, no allocation per step.

    Layer 0's input projection of every character is precomputed as a table (embedding or one-hot
    times W_ih, plus both biases), so the layer costs one W_hh product. For deeper layers W_ih and
    W_hh are concatenated, and the hidden states of all layers live side by side in one buffer, so
    the input of layer l, [h(l-1) new ; h(l) old], is a contiguous slice: one product per layer.

    Batch 1 is bound by reading the weights, so `int8=True` stores them as int8 with one scale per
    output row (a quarter of the bytes) and multiplies in bf16; the state and the gates stay fp32.
    """

    def __init__(self, model: CharRNN, int8: bool = False) -> None:
        self.n_layers, self.hidden, self.int8 = model.n_layers, model.hidden, int8
        self.h = torch.zeros(self.n_layers * self.hidden)
        self.h16 = torch.zeros(self.n_layers * self.hidden, dtype=torch.bfloat16) if int8 else None
        self.c = torch.zeros(self.n_layers, self.hidden)
        self.gates = torch.empty(4 * self.hidden)
        self.logits = torch.empty(model.vocab_size)
        self.load(model)

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
        """Advance one character; returns the logits buffer (overwritten by the next step)."""
        hid, h, c, gates = self.hidden, self.h, self.c, self.gates
        for layer in range(self.n_layers):
            lo = layer * hid
            bias, start = (self.table[idx], 0) if layer == 0 else (self.b[layer], lo - hid)
            if self.int8:
                q, scale = self.w[layer]
                torch.add(bias, torch._weight_int8pack_mm(self.h16[None, start : lo + hid], q, scale)[0], out=gates)
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
                self.h16[lo : lo + hid] = h_l
        return torch.addmv(self.head_b, self.head_w, h[-hid:], out=self.logits)

    def get_state(self) -> State:
        shape = (self.n_layers, 1, self.hidden)
        return self.h.view(shape).clone(), self.c.view(shape).clone()

    def set_state(self, state: State | None) -> None:
        if state is None:
            self.h.zero_()
            self.c.zero_()
        else:
            self.h.copy_(state[0].reshape(-1))
            self.c.copy_(state[1].reshape(self.n_layers, self.hidden))
        if self.int8:
            self.h16.copy_(self.h)


def _int8_rows(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 with one scale per output row, the layout torch._weight_int8pack_mm takes."""
    scale = w.abs().amax(1).clamp(min=1e-12) / 127
    return (w / scale[:, None]).round().to(torch.int8).contiguous(), scale.to(torch.bfloat16)


class Generator:
    """Holds a model's recurrent state between calls, so text can be continued where it stopped."""

    def __init__(self, model: CharRNN, vocab: Vocab, top_n: int = 5, weights: str = "fp32") -> None:
        """weights: "fp32" (exact) or "int8" (an LSTM on the CPU only: about 4x faster, its argmax
        differs from fp32's at a fraction of a percent of steps; see docs/benchmarks.md)."""
        if weights not in WEIGHTS:
            raise CharRNNError(f"weights must be one of {', '.join(WEIGHTS)} (got {weights!r})")
        self.model = model.eval()
        self.vocab = vocab
        self.top_n = min(top_n, len(vocab))
        self.device = next(model.parameters()).device
        fast = model.cell == "lstm" and self.device.type == "cpu"
        if weights == "int8" and not fast:
            raise CharRNNError("int8 generation needs an LSTM on the CPU")
        if weights == "int8" and not hasattr(torch, "_weight_int8pack_mm"):
            raise CharRNNError(f"int8 generation needs a newer PyTorch than {torch.__version__}")
        self._stepper = _LSTMStepper(model, int8=weights == "int8") if fast else None
        self.reset()

    def reset(self) -> None:
        self.state = None
        self.logits: torch.Tensor | None = None
        self._pieces: list[str] = []

    @property
    def text(self) -> str:
        """Everything fed and generated since the last reset."""
        # Kept as pieces: `self.text += char` would copy the whole text per character.
        if len(self._pieces) > 1:
            self._pieces = ["".join(self._pieces)]
        return self._pieces[0] if self._pieces else ""

    @property
    def state(self) -> State | None:
        """The recurrent state in the model's own layout; None before anything was fed."""
        if self._stepper is not None and self._has_state:
            return self._stepper.get_state()
        return self._state

    @state.setter
    def state(self, value: State | None) -> None:
        self._state, self._has_state = value, value is not None
        if self._stepper is not None:
            self._stepper.set_state(value)

    def _step(self, idx: int) -> None:
        if self._stepper is not None:
            self.logits = self._stepper.step(idx)
            self._has_state = True
        else:
            logits, self._state = self.model(torch.tensor([[idx]], device=self.device), self._state)
            self.logits = logits[0, -1]

    def _check_weights(self) -> None:
        if self._stepper is not None and self._stepper.version != _weights_version(self.model):
            self._stepper.load(self.model)

    @torch.no_grad()
    def feed(self, text: str) -> None:
        """Advance the state over `text` (the prime, or user text typed mid-stream)."""
        if not text:
            return
        ids = self.vocab.encode(text)
        self._check_weights()
        if self._stepper is not None and len(ids) <= FEED_STEP_MAX:
            for idx in ids:
                self._step(idx)
        else:
            logits, self.state = self.model(torch.tensor([ids], device=self.device), self.state)
            self.logits = logits[0, -1]
        self._pieces.append(text)

    @torch.no_grad()
    def sample(self, length: int, temperature: float = 1.0, top_k: int = 0, seed: int | None = None) -> Iterator[Token]:
        """Yield `length` characters. temperature 0 is argmax (the tutorial's way); top_k > 0 keeps only
        the k most likely characters. Stop early by no longer iterating: the state stays consistent."""
        if self.logits is None:
            raise ValueError("feed a prime before sampling")
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        chars, top_n = self.vocab.chars, self.top_n
        truncate = 0 < top_k < len(chars)
        self._check_weights()
        for _ in range(length):
            logits = self.logits.float().cpu()
            probs = torch.softmax(logits, -1)
            top_p, top_i = probs.topk(top_n)
            top_ids, top_ps = top_i.tolist(), top_p.tolist()
            if temperature < ARGMAX_BELOW:
                idx, prob = top_ids[0], top_ps[0]
            else:
                scaled = logits / temperature
                if truncate:
                    kth = scaled.topk(top_k).values[-1]
                    scaled = scaled.masked_fill(scaled < kth, float("-inf"))
                try:
                    idx = int(torch.multinomial(torch.softmax(scaled, -1), 1, generator=gen))
                except RuntimeError:  # logits that overflowed to inf give NaN probabilities: take the argmax
                    idx = top_ids[0]
                prob = float(probs[idx])
            token = Token(chars[idx], prob, tuple(zip([chars[i] for i in top_ids], top_ps, strict=True)))
            self._step(idx)
            self._pieces.append(token.char)
            yield token
