"""Seeing inside a trained model: per-character surprise, recorded cell states, and cells that track text.

After Karpathy, Johnson & Fei-Fei, "Visualizing and Understanding Recurrent Networks" (ICLR 2016 workshop,
arXiv:1506.02078, 2015): the text coloured by how sure the model was of each character, and single LSTM
cells whose activation follows a property of the text (inside quotes, position in the line), found by
correlating every cell with simple functions of the text.

- `surprise`: run the model over a text with the state carried (one stream, read as `evaluate()` reads it:
  parts side by side, each warmed up) and return, for every predicted character, its surprisal in bits, its
  probability and the model's top-k candidates.
- `record_cells`: the same run, recording every layer's cell state (LSTM `c`; `h` for GRU and RNN, their
  only state) after every character, as a (layers, chars, hidden) float32 tensor.
- `PROPERTIES` and `rank_cells`: a small set of documented text properties (text -> one float per
  character) and, for each, the cells ranked by |Pearson correlation| with it.

Heavy work runs in the caller's thread (the TUI calls these from a worker); nothing here imports the UI. Each
long function takes `progress(done, total)`, called from that thread as the work goes, and `should_stop()`,
asked as it goes: when it turns true the function raises `Cancelled` (scoring.baseline) within one piece of
work (a forward pass, 256 characters of one layer, one property).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from charrnn_tui.core.errors import Cancelled, CharRNNError
from charrnn_tui.model.charrnn import CharRNN, State
from charrnn_tui.scoring.evaluate import CHUNK_BYTES, MAX_STREAMS, WINDOW, _row, _warm_up
from charrnn_tui.text.vocab import Vocab

LN2 = math.log(2)
MAX_SURPRISE_CHARS = 50_000
MAX_CELL_CHARS = 10_000
# The recorded states are layers x chars x hidden float32; a 3x512 model over 10,000 characters is 61 MB.
MAX_CELL_BYTES = 64 << 20


def _checked_ids(vocab: Vocab, text: str) -> torch.Tensor:
    vocab.check(text)  # a CharRNNError naming the characters the model never saw
    return torch.tensor([vocab.index[c] for c in text], dtype=torch.long)


def _device(model: CharRNN) -> torch.device:
    return next(model.parameters()).device


# ---- surprise ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Surprise:
    """Per-character surprise of a model on a text, read as one stream with the state carried.

    Character 0 has no prediction (nothing precedes it); entry i of each tensor is about text[i + 1]:
      bits:       (n-1,) float32, the surprisal -log2 p(text[i+1] | text[:i+1]) in bits
      prob:       (n-1,) float32, that probability
      top_ids:    (n-1, k) int64 vocabulary ids of the k likeliest characters, likeliest first
      top_probs:  (n-1, k) float32 their probabilities
    sum_bits is the total surprisal in bits, mean_nats the mean cross-entropy in nats/char (what the
    trainer's `evaluate()` reports on the same text read as one stream), mean_bits = mean_nats / ln 2.
    """

    text: str  # the characters scored (the input, cut to `max_chars` when `truncated`)
    bits: torch.Tensor
    prob: torch.Tensor
    top_ids: torch.Tensor
    top_probs: torch.Tensor
    sum_bits: float
    mean_nats: float
    truncated: bool  # the input was longer than max_chars and was cut

    @property
    def mean_bits(self) -> float:
        return self.mean_nats / LN2

    @property
    def n_predicted(self) -> int:
        return len(self.text) - 1


class _Meter:
    """Counts the work done for `progress(done, total)` and asks `should_stop()` before each piece of it."""

    def __init__(
        self, total: int, progress: Callable[[int, int], None] | None, should_stop: Callable[[], bool] | None
    ) -> None:
        self.total, self.done = total, 0
        self._progress, self._should_stop = progress, should_stop

    def check(self) -> None:
        """Raises Cancelled when should_stop() says so."""
        if self._should_stop is not None and self._should_stop():
            raise Cancelled

    def add(self, count: int) -> None:
        self.done += count
        if self._progress is not None:
            self._progress(self.done, self.total)


@torch.no_grad()
def surprise(
    model: CharRNN,
    vocab: Vocab,
    text: str,
    top_k: int = 5,
    max_chars: int = MAX_SURPRISE_CHARS,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Surprise:
    """Score `text` with `model` (eval mode) as one stream with the state carried; see `Surprise`.

    For speed the text is read as `evaluate()` reads it: up to MAX_STREAMS consecutive parts side by side,
    each but the first started from the state its `evaluate.WARM_UP` preceding characters leave, which gives the
    one-stream figures to about 1e-5 nats/char. progress(done, total) is called after each forward pass with
    the characters predicted so far, rising to total = len(text) - 1; should_stop() is asked before each.
    Raises CharRNNError when the text has under 2 characters or holds characters the model never saw,
    Cancelled (scoring.baseline) when should_stop() turned true.
    """
    truncated = len(text) > max_chars
    text = text[:max_chars]
    if len(text) < 2:
        raise CharRNNError("type at least 2 characters: the first one only gives the model its context")
    ids = _checked_ids(vocab, text)
    device = _device(model)
    k = max(1, min(top_k, len(vocab)))
    n = len(text) - 1
    streams = max(1, min(MAX_STREAMS, n // 512))
    length = n // streams
    per_char = streams * model.vocab_size * 4 * (1 if model.embed is not None else 2)
    window = max(1, min(WINDOW, CHUNK_BYTES // per_char))
    meter = _Meter(n, progress, should_stop)
    was_training = model.training
    model.eval()
    try:
        meter.check()
        state = _warm_up(model, ids, streams, length, window, device)
        x = ids[: streams * length].view(streams, length)
        y = ids[1 : streams * length + 1].view(streams, length)
        parts, state = _predict(model, x, y, state, window, k, meter)
        pieces = [parts]
        if streams * length < n:  # the leftover characters continue the last part
            x, y = ids[streams * length : n].view(1, -1), ids[streams * length + 1 :].view(1, -1)
            pieces.append(_predict(model, x, y, _row(state, streams - 1), window, k, meter)[0])
    finally:
        model.train(was_training)
    nll, top_probs, top_ids = (torch.cat([piece[i] for piece in pieces]) for i in range(3))
    # Summed in float64 so that a long text's mean is the figure evaluate() gives.
    total_nats = nll.double().sum().item()
    return Surprise(
        text=text,
        bits=nll / LN2,
        prob=torch.exp(-nll),
        top_ids=top_ids,
        top_probs=top_probs,
        sum_bits=total_nats / LN2,
        mean_nats=total_nats / n,
        truncated=truncated,
    )


def _predict(
    model: CharRNN, x: torch.Tensor, y: torch.Tensor, state: State | None, window: int, k: int, meter: _Meter
) -> tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor], State]:
    """x, y: (streams, length) ids. Returns (nll (streams*length,) float32 nats, top-k probabilities
    (streams*length, k), their ids), row by row as in the text, and the state after the last window."""
    device = _device(model)
    nll, top_probs, top_ids = [], [], []
    for start in range(0, x.shape[1], window):
        meter.check()
        logits, state = model(x[:, start : start + window].to(device), state)
        logp = F.log_softmax(logits.float(), dim=-1)
        yb = y[:, start : start + window].to(device)
        nll.append(-logp.gather(2, yb[..., None])[..., 0].cpu())
        tp, ti = logp.exp().topk(k, dim=-1)
        top_probs.append(tp.cpu())
        top_ids.append(ti.cpu())
        meter.add(yb.numel())
    rows = (torch.cat(nll, dim=1).reshape(-1), torch.cat(top_probs, dim=1).flatten(0, 1))
    return (*rows, torch.cat(top_ids, dim=1).flatten(0, 1)), state


# ---- cells -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellTrace:
    """Every layer's cell state after every character of `text`.

    states: (layers, chars, hidden) float32 on the CPU; states[l, t, j] is cell j of layer l after the model
    read text[t]. For an LSTM that is the cell state c (unbounded; |c| > 1 is common), for a GRU or a
    vanilla RNN the hidden state h (in [-1, 1] for tanh). `kind` says which ("c" or "h").
    """

    text: str
    states: torch.Tensor
    kind: str
    truncated: bool  # the input was longer than the cap (max_chars, or MAX_CELL_BYTES of states) and was cut

    @property
    def n_layers(self) -> int:
        return self.states.shape[0]

    @property
    def hidden(self) -> int:
        return self.states.shape[2]


def cell_char_cap(model: CharRNN, max_chars: int = MAX_CELL_CHARS, max_bytes: int = MAX_CELL_BYTES) -> int:
    """How many characters `record_cells` keeps for this model: max_chars, fewer for a big model."""
    per_char = model.n_layers * model.hidden * 4
    return max(2, min(max_chars, max_bytes // per_char))


def _layer_weights(rnn: torch.nn.RNNBase, layer: int) -> tuple[torch.Tensor, ...]:
    w_ih = getattr(rnn, f"weight_ih_l{layer}").float()
    w_hh = getattr(rnn, f"weight_hh_l{layer}").float()
    zeros = torch.zeros(w_ih.shape[0], device=w_ih.device)
    b_ih = getattr(rnn, f"bias_ih_l{layer}", None)
    b_hh = getattr(rnn, f"bias_hh_l{layer}", None)
    return (
        w_ih,
        w_hh,
        zeros if b_ih is None else b_ih.float(),
        zeros if b_hh is None else b_hh.float(),
    )


@torch.no_grad()
def record_cells(
    model: CharRNN,
    vocab: Vocab,
    text: str,
    max_chars: int = MAX_CELL_CHARS,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CellTrace:
    """Run the model over `text` from a zero state, recording each layer's state after each character.

    The recurrence is written out layer by layer with the model's own weights (PyTorch's gate order and
    equations for nn.LSTM, nn.GRU, nn.RNN), since nn.LSTM returns only the last layer's h per step. The
    input projection is one matrix product per layer; the recurrent one is a loop over characters.
    Dropout is off (eval). progress(done, total) counts recurrent steps, total = layers x characters, every
    256 characters and at the end; should_stop() is asked as often. Raises CharRNNError for an empty text or
    characters the model never saw, Cancelled (scoring.baseline) when should_stop() turned true.
    """
    cap = cell_char_cap(model, max_chars)
    truncated = len(text) > cap
    text = text[:cap]
    if not text:
        raise CharRNNError("there is no text to run the model over")
    ids = _checked_ids(vocab, text)
    device = _device(model)
    x = model.inputs(ids.to(device)[None])[0].float()  # (chars, input)
    out = torch.empty(model.n_layers, len(text), model.hidden, dtype=torch.float32)
    meter = _Meter(model.n_layers * len(text), progress, should_stop)
    for layer in range(model.n_layers):
        x, cs = _run_layer(model, layer, x, meter)
        out[layer] = cs.cpu()
    return CellTrace(text=text, states=out, kind="c" if model.cell == "lstm" else "h", truncated=truncated)


def _run_layer(model: CharRNN, layer: int, x: torch.Tensor, meter: _Meter) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer over x (chars, input) from a zero state: its h (chars, hidden), and c for an LSTM (else h)."""
    rnn = model.rnn
    w_ih, w_hh, b_ih, b_hh = _layer_weights(rnn, layer)
    gates_x = torch.addmm(b_ih, x, w_ih.t())  # (chars, gates*hidden): every input projection at once
    w_hh_t = w_hh.t().contiguous()
    n, h_size = x.shape[0], model.hidden
    h = torch.zeros(1, h_size, device=x.device)
    c = torch.zeros(1, h_size, device=x.device)
    hs = torch.empty(n, h_size, device=x.device)
    cs = torch.empty(n, h_size, device=x.device) if model.cell == "lstm" else hs
    act = torch.relu if getattr(rnn, "nonlinearity", "tanh") == "relu" else torch.tanh
    for t in range(n):
        if t % 256 == 0:
            if t:
                meter.add(256)
            meter.check()
        if model.cell == "lstm":
            i, f, gg, o = (gates_x[t : t + 1] + torch.addmm(b_hh, h, w_hh_t)).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
            h = torch.sigmoid(o) * torch.tanh(c)
            cs[t] = c[0]
        elif model.cell == "gru":
            xr, xz, xn = gates_x[t : t + 1].chunk(3, dim=1)
            hr, hz, hn = torch.addmm(b_hh, h, w_hh_t).chunk(3, dim=1)
            r = torch.sigmoid(xr + hr)
            z = torch.sigmoid(xz + hz)
            h = (1 - z) * torch.tanh(xn + r * hn) + z * h
        else:
            h = act(gates_x[t : t + 1] + torch.addmm(b_hh, h, w_hh_t))
        hs[t] = h[0]
    meter.add(n - 256 * ((n - 1) // 256))  # the steps since the last report
    return hs, cs


# ---- text properties and the cells that track them --------------------------------------------

# Each property maps a text to one float per character, describing the text *after* reading that
# character (as the recorded state is), so a cell that tracks it can be correlated with it directly.

_OPEN_QUOTES = {'"': '"', "\u201c": "\u201d", "\u00ab": "\u00bb"}


def inside_quotes(text: str) -> list[float]:
    """1 from an opening double quote (", \u201c or \u00ab) up to (not including) its closing one, else 0.

    A straight " toggles; curly and angle quotes open and close by their shape. Apostrophes are not quotes
    (in English they are mostly contractions: 'Tis, o'er).
    """
    out, closer = [], None
    for ch in text:
        if closer is not None and ch == closer:
            closer = None
        elif closer is None and ch in _OPEN_QUOTES:
            closer = _OPEN_QUOTES[ch]
        out.append(1.0 if closer is not None else 0.0)
    return out


def bracket_depth(text: str) -> list[float]:
    """How many (, [ and { are open after each character: 0 outside brackets, 1 inside, 2 nested..."""
    out, depth = [], 0
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}" and depth > 0:
            depth -= 1
        out.append(float(depth))
    return out


def line_position(text: str) -> list[float]:
    """Characters read since the last newline: 0 at a newline, 1 at a line's first character, and so on."""
    out, pos = [], 0
    for ch in text:
        pos = 0 if ch == "\n" else pos + 1
        out.append(float(pos))
    return out


def speaker_line(text: str) -> list[float]:
    """1 on every character of a line whose letters are all capitals (at least two letters), else 0:
    a speaker's name on its own line, as plays are written ("HAMLET", "FIRST CLOWN.")."""
    out: list[float] = []
    for line in text.split("\n"):
        letters = [c for c in line if c.isalpha()]
        flag = 1.0 if len(letters) >= 2 and all(c.isupper() for c in letters) else 0.0
        out.extend([flag] * len(line))
        out.append(0.0)  # the newline that ends the line
    return out[: len(text)]


def word_start(text: str) -> list[float]:
    """1 on a word's first character (a letter or digit after anything else, or at the start), else 0."""
    out, prev = [], False
    for ch in text:
        word = ch.isalnum()
        out.append(1.0 if word and not prev else 0.0)
        prev = word
    return out


PROPERTIES: dict[str, Callable[[str], list[float]]] = {
    "inside quotes": inside_quotes,
    "inside brackets": bracket_depth,
    "position in line": line_position,
    "speaker-name line": speaker_line,
    "start of a word": word_start,
}


@dataclass(frozen=True)
class CellMatch:
    layer: int
    cell: int
    r: float  # Pearson correlation of the cell's activation with the property over the text, in [-1, 1]


def correlations(states: torch.Tensor, series: list[float] | torch.Tensor) -> torch.Tensor:
    """Pearson r of every cell with one series: states (layers, chars, hidden) -> (layers, hidden) float32.

    A cell (or series) that never changes has no correlation; it gets r = 0, not NaN.
    """
    s = torch.as_tensor(series, dtype=torch.float64)
    if s.shape[0] != states.shape[1]:
        raise ValueError(f"series has {s.shape[0]} values for {states.shape[1]} characters")
    a = states.double()
    a = a - a.mean(dim=1, keepdim=True)
    s = s - s.mean()
    denom = a.norm(dim=1) * s.norm()
    r = torch.einsum("lth,t->lh", a, s) / denom
    return torch.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0).clamp_(-1.0, 1.0).float()


def rank_cells(
    states: torch.Tensor,
    text: str,
    top: int = 5,
    properties: dict[str, Callable[[str], list[float]]] | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, list[CellMatch]]:
    """For each property, the `top` cells with the largest |Pearson r|, best first.

    states: (layers, chars, hidden) activations over `text` (chars == len(text)). A property that is constant
    over this text (no quotes in it, say) gets an empty list: no cell can be said to track it.
    progress(done, total) counts the properties ranked; should_stop() is asked before each, and raises
    Cancelled (scoring.baseline) when it turns true.
    """
    properties = PROPERTIES if properties is None else properties
    ranked: dict[str, list[CellMatch]] = {}
    meter = _Meter(len(properties), progress, should_stop)
    for name, fn in properties.items():
        meter.check()
        ranked[name] = _best_cells(states, fn(text), top)
        meter.add(1)
    return ranked


def _best_cells(states: torch.Tensor, series: list[float], top: int) -> list[CellMatch]:
    """The `top` cells of states (layers, chars, hidden) with the largest |r| with `series`; none for a
    constant series."""
    if len(set(series)) < 2:
        return []
    hidden = states.shape[2]
    r = correlations(states, series).flatten()
    order = r.abs().argsort(descending=True)[:top]
    return [CellMatch(int(i) // hidden, int(i) % hidden, float(r[i])) for i in order]
