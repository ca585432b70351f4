"""Seeing inside a trained model: per-character surprise, recorded cell states, and cells that track text.

After Karpathy, Johnson & Fei-Fei, "Visualizing and Understanding Recurrent Networks" (ICLR 2016 workshop,
arXiv:1506.02078, 2015): the text coloured by how sure the model was of each character, and single LSTM
cells whose activation follows a property of the text (inside quotes, position in the line), found by
correlating every cell with simple functions of the text.

- `surprise`: run the model over a text with the state carried (one stream) and return, for every
  predicted character, its surprisal in bits, its probability and the model's top-k candidates.
- `record_cells`: the same run, recording every layer's cell state (LSTM `c`; `h` for GRU and RNN, their
  only state) after every character, as a (layers, chars, hidden) float32 tensor.
- `PROPERTIES` and `rank_cells`: a small set of documented text properties (text -> one float per
  character) and, for each, the cells ranked by |Pearson correlation| with it.

Heavy work runs in the caller's thread (the TUI calls these from a worker); nothing here imports the UI.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.model.charrnn import CharRNN
from charrnn_tui.text.vocab import Vocab

LN2 = math.log(2)
CHUNK = 256  # characters per forward call, as the trainer's evaluate() reads them
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


@torch.no_grad()
def surprise(model: CharRNN, vocab: Vocab, text: str, top_k: int = 5, max_chars: int = MAX_SURPRISE_CHARS) -> Surprise:
    """Score `text` with `model` (eval mode, state carried through the whole text); see `Surprise`.

    Raises CharRNNError when the text has under 2 characters or holds characters the model never saw.
    """
    truncated = len(text) > max_chars
    text = text[:max_chars]
    if len(text) < 2:
        raise CharRNNError("type at least 2 characters: the first one only gives the model its context")
    ids = _checked_ids(vocab, text)
    device = _device(model)
    k = max(1, min(top_k, len(vocab)))
    was_training = model.training
    model.eval()
    bits, prob, top_ids, top_probs = [], [], [], []
    total_nats = 0.0
    state = None
    try:
        x_all, y_all = ids[:-1], ids[1:]
        for start in range(0, len(x_all), CHUNK):
            x = x_all[start : start + CHUNK].to(device)[None]
            y = y_all[start : start + CHUNK].to(device)
            logits, state = model(x, state)
            logp = F.log_softmax(logits[0].float(), dim=-1)
            nll = -logp.gather(1, y[:, None])[:, 0]
            # Summed in float64 so a long text's mean is the same number evaluate() sums with cross_entropy.
            total_nats += nll.double().sum().item()
            bits.append((nll / LN2).cpu())
            prob.append(torch.exp(-nll).cpu())
            tp, ti = logp.exp().topk(k, dim=-1)
            top_ids.append(ti.cpu())
            top_probs.append(tp.cpu())
    finally:
        model.train(was_training)
    n = len(text) - 1
    return Surprise(
        text=text,
        bits=torch.cat(bits),
        prob=torch.cat(prob),
        top_ids=torch.cat(top_ids),
        top_probs=torch.cat(top_probs),
        sum_bits=total_nats / LN2,
        mean_nats=total_nats / n,
        truncated=truncated,
    )


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
) -> CellTrace:
    """Run the model over `text` from a zero state, recording each layer's state after each character.

    The recurrence is written out layer by layer with the model's own weights (PyTorch's gate order and
    equations for nn.LSTM, nn.GRU, nn.RNN), since nn.LSTM returns only the last layer's h per step. The
    input projection is one matrix product per layer; the recurrent one is a loop over characters.
    Dropout is off (eval). Raises CharRNNError for an empty text or characters the model never saw;
    returns early with what it has when should_stop() turns true (checked every 256 characters).
    """
    cap = cell_char_cap(model, max_chars)
    truncated = len(text) > cap
    text = text[:cap]
    if not text:
        raise CharRNNError("there is no text to run the model over")
    ids = _checked_ids(vocab, text)
    device = _device(model)
    rnn = model.rnn
    x = model.inputs(ids.to(device)[None])[0].float()  # (chars, input)
    n, h_size = len(text), model.hidden
    out = torch.empty(model.n_layers, n, h_size, dtype=torch.float32)
    for layer in range(model.n_layers):
        w_ih, w_hh, b_ih, b_hh = _layer_weights(rnn, layer)
        gates_x = torch.addmm(b_ih, x, w_ih.t())  # (chars, gates*hidden): every input projection at once
        w_hh_t = w_hh.t().contiguous()
        h = torch.zeros(1, h_size, device=device)
        c = torch.zeros(1, h_size, device=device)
        hs = torch.empty(n, h_size, device=device)
        cs = torch.empty(n, h_size, device=device) if model.cell == "lstm" else hs
        act = torch.relu if getattr(rnn, "nonlinearity", "tanh") == "relu" else torch.tanh
        for t in range(n):
            if should_stop is not None and t % 256 == 0 and should_stop():
                n = t
                break
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
        out[layer, :n] = cs[:n].cpu()
        x = hs[:n]
    if n < len(text):
        text, out, truncated = text[:n], out[:, :n].contiguous(), True
    return CellTrace(text=text, states=out, kind="c" if model.cell == "lstm" else "h", truncated=truncated)


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
    states: torch.Tensor, text: str, top: int = 5, properties: dict[str, Callable[[str], list[float]]] | None = None
) -> dict[str, list[CellMatch]]:
    """For each property, the `top` cells with the largest |Pearson r|, best first.

    states: (layers, chars, hidden) activations over `text` (chars == len(text)). A property that is constant
    over this text (no quotes in it, say) gets an empty list: no cell can be said to track it.
    """
    properties = PROPERTIES if properties is None else properties
    hidden = states.shape[2]
    ranked: dict[str, list[CellMatch]] = {}
    for name, fn in properties.items():
        series = fn(text)
        if len(set(series)) < 2:
            ranked[name] = []
            continue
        r = correlations(states, series)
        order = r.abs().flatten().argsort(descending=True)[:top]
        ranked[name] = [CellMatch(int(i) // hidden, int(i) % hidden, float(r.flatten()[i])) for i in order]
    return ranked
