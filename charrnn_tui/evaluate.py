"""Evaluation: the mean cross-entropy of a model over held-out text, in memory bounded for any vocabulary."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from charrnn_tui.model import CharRNN

# Logits (and one-hot inputs) of one evaluation chunk stay below this many bytes. Cross-entropy adds a
# log-softmax of the same size, so evaluation's peak is a few times this, whatever the vocabulary: 32
# streams x 256 characters x a 20,000-character CJK vocabulary would otherwise be 655 MB of logits alone.
CHUNK_BYTES = 32 << 20
MAX_STREAMS = 32
WINDOW = 256  # characters per stream per forward pass when the vocabulary is small


@torch.no_grad()
def evaluate(
    model: CharRNN, data: torch.Tensor, device: torch.device, max_chars: int = 0, chunk_bytes: int = CHUNK_BYTES
) -> float:
    """Mean cross-entropy in nats/char over `data` (1-D character ids), read as up to 32 long streams with
    carried state, so that every character is predicted with the context before it.

    max_chars > 0 reads only the first max_chars + 1 ids. Each forward pass covers as many characters per
    stream (at most 256) as keep its logits, and one-hot inputs, under `chunk_bytes`; the state carries
    across passes, so the value does not depend on the chunking (beyond fp32 rounding).
    """
    if max_chars and len(data) > max_chars + 1:
        data = data[: max_chars + 1]
    n = len(data) - 1
    streams = max(1, min(MAX_STREAMS, n // 512))
    length = n // streams
    x = data[: streams * length].view(streams, length)
    y = data[1 : streams * length + 1].view(streams, length)
    per_char = streams * model.vocab_size * 4 * (1 if model.embed is not None else 2)
    window = max(1, min(WINDOW, chunk_bytes // per_char))
    was_training = model.training
    model.eval()
    total, state = 0.0, None
    try:
        for start in range(0, length, window):
            xb = x[:, start : start + window].long().to(device)
            yb = y[:, start : start + window].long().to(device)
            logits, state = model(xb, state)
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yb.reshape(-1), reduction="sum").item()
    finally:
        model.train(was_training)
    return total / (streams * length)
