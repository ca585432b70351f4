"""Evaluation: the mean cross-entropy of a model over held-out text, in memory bounded for any vocabulary."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from charrnn_tui.model.charrnn import CharRNN, State

# Logits (and one-hot inputs) of one evaluation chunk stay below this many bytes. Cross-entropy adds a
# log-softmax of the same size, so evaluation's peak is a few times this, whatever the vocabulary: 32
# streams x 256 characters x a 20,000-character CJK vocabulary would otherwise be 655 MB of logits alone.
CHUNK_BYTES = 32 << 20
MAX_STREAMS = 32  # parts of the text read side by side
WINDOW = 256  # characters per stream per forward pass when the vocabulary is small
# Characters each part of the text but the first reads, unscored, before its own, so that its first characters
# are predicted with their context rather than from a blank state. Measured on Hamlet's validation text with a
# 60 s default model (docs/quality.md, round 7; benchmarks/bench_evaluate.py): from a blank state the 31 later
# parts cost 0.0105 nats/char in all; 32 characters of warm-up leave 0.00006 of it, 64 or more match one
# unbroken stream to 0.00001. 128 is twice the measured need, for about 23% more evaluation work on Hamlet.
WARM_UP = 128
# The version of what evaluate() measures, saved in checkpoints: 1 read parts 2-32 from blank states (runs saved
# before round 7, whose losses read about 0.01 nats/char high on Hamlet), 2 warms them up.
EVALUATION = 2


@torch.no_grad()
def evaluate(
    model: CharRNN, data: torch.Tensor, device: torch.device, max_chars: int = 0, chunk_bytes: int = CHUNK_BYTES
) -> float:
    """Mean cross-entropy in nats/char of predicting data[1:] from the characters before each, `data` being
    1-D character ids: the value of reading the text as one unbroken stream with the state carried.

    For speed the text is cut into up to MAX_STREAMS consecutive parts read side by side. Each part but the
    first starts from the state its WARM_UP preceding characters leave (read, not scored), and the last
    part carries on over the characters the even split leaves over, so every character is scored once,
    with context. max_chars > 0 reads only the first max_chars + 1 ids. Each forward pass covers as many
    characters per stream (at most WINDOW) as keep its logits, and one-hot inputs, under `chunk_bytes`; the
    state carries across passes, so the value depends neither on the chunking nor, beyond the warm-up's
    approximation and fp32 rounding, on the number of parts. Restores the model's training mode.
    Raises ValueError for fewer than 2 ids (nothing to predict); the trainer refuses such a split earlier.
    """
    if max_chars and len(data) > max_chars + 1:
        data = data[: max_chars + 1]
    n = len(data) - 1
    if n < 1:
        raise ValueError(f"evaluation needs at least 2 character ids, got {len(data)}")
    streams = max(1, min(MAX_STREAMS, n // 512))
    length = n // streams
    per_char = streams * model.vocab_size * 4 * (1 if model.embed is not None else 2)
    window = max(1, min(WINDOW, chunk_bytes // per_char))
    was_training = model.training
    model.eval()
    try:
        state = _warm_up(model, data, streams, length, window, device)
        x = data[: streams * length].view(streams, length)
        y = data[1 : streams * length + 1].view(streams, length)
        total, state = _score(model, x, y, state, window, device)
        if streams * length < n:  # the leftover characters continue the last part
            tail = slice(streams * length, n)
            rest = data[tail].view(1, -1), data[tail.start + 1 : n + 1].view(1, -1)
            total += _score(model, *rest, _row(state, streams - 1), window, device)[0]
    finally:
        model.train(was_training)
    return total / n


def _warm_up(
    model: CharRNN, data: torch.Tensor, streams: int, length: int, window: int, device: torch.device
) -> State | None:
    """The state each part starts from: that of its WARM_UP preceding characters, and blank for the first."""
    warm = min(WARM_UP, length)
    if streams == 1 or not warm:
        return None
    # The first part has nothing before it; it reads the second part's warm-up too and its state is blanked.
    starts = [max(1, k) * length - warm for k in range(streams)]
    x = torch.stack([data[s : s + warm] for s in starts])
    state = None
    for start in range(0, warm, window):
        _, state = model(x[:, start : start + window].long().to(device), state)
    if isinstance(state, tuple):
        for part in state:
            part[:, 0] = 0
    else:
        state[:, 0] = 0
    return state


def _score(
    model: CharRNN, x: torch.Tensor, y: torch.Tensor, state: State | None, window: int, device: torch.device
) -> tuple[float, State]:
    """Summed cross-entropy (nats) of predicting y from x, both (streams, length), from `state`; and the state
    after."""
    total = 0.0
    for start in range(0, x.shape[1], window):
        logits, state = model(x[:, start : start + window].long().to(device), state)
        yb = y[:, start : start + window].long().to(device)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yb.reshape(-1), reduction="sum").item()
    return total, state


def _row(state: State, k: int) -> State:
    """Stream k's state, as a batch of one. Contiguous: with several layers the slice is not, and cuDNN
    refuses a non-contiguous hx ("rnn: hx is not contiguous")."""
    if isinstance(state, tuple):
        return tuple(part[:, k : k + 1].contiguous() for part in state)
    return state[:, k : k + 1].contiguous()
