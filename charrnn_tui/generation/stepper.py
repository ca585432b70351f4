"""A hand-written fp32 (or int8) LSTM step for the CPU, one matrix product per layer into preallocated buffers.

Calling `nn.LSTM` once per character is slow on a CPU (a fixed cost of milliseconds per call, well
beyond the product itself); docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import mmap

import torch

from charrnn_tui.model.charrnn import CharRNN, State


def weights_version(model: CharRNN) -> int:
    # Every in-place change to a parameter (an optimiser step, load_state_dict) bumps its version,
    # so a changed sum tells the stepper its copied weights are stale.
    return sum(p._version for p in model.parameters())


def on_huge_pages(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
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


class LSTMStepper:
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
            self.w = list(zip(on_huge_pages([q for q, _ in pairs]), [s for _, s in pairs], strict=True))
        else:
            self.w = on_huge_pages(ws)
        self.head_w = model.head.weight.float().contiguous()
        self.head_b = model.head.bias.float().clone()
        self.version = weights_version(model)

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
