"""Bounds on what a training step may allocate, checked before the model is built. Torch-free.

A training step holds logits of batch x sequence x vocabulary (fp32), a log-softmax and a gradient of
the same size, and, for one-hot input, inputs of that size again. With a CJK vocabulary of 20,000
characters, batch 64 x sequence 128 is 655 MB of logits, about 2.6 GB at the step's peak: more than a
laptop can spare. Rather than fail with an allocation error mid-run, such settings are refused up front.
"""

from __future__ import annotations

from charrnn_tui.core.errors import CharRNNError

# fp32 logits (plus one-hot inputs) of one training step; the step's peak is about 3-4x this.
MAX_STEP_LOGITS_BYTES = 512 << 20


def step_logits_bytes(batch_size: int, seq_len: int, vocab_size: int, embed: int) -> int:
    """Bytes of one step's fp32 logits, and of its one-hot inputs when embed is 0."""
    return batch_size * seq_len * vocab_size * 4 * (1 if embed else 2)


def check_step_logits(batch_size: int, seq_len: int, vocab_size: int, embed: int) -> None:
    """Raises CharRNNError when a training step's logits would exceed MAX_STEP_LOGITS_BYTES."""
    need = step_logits_bytes(batch_size, seq_len, vocab_size, embed)
    if need <= MAX_STEP_LOGITS_BYTES:
        return
    mb = MAX_STEP_LOGITS_BYTES >> 20
    positions = MAX_STEP_LOGITS_BYTES // step_logits_bytes(1, 1, vocab_size, embed)
    one_hot = "" if embed else " with one-hot inputs (an embedding, --embed 64, halves it)"
    raise CharRNNError(
        f"batch {batch_size} x sequence {seq_len} over a vocabulary of {vocab_size:,} characters needs "
        f"{need / 2**20:,.0f} MB of logits per training step{one_hot}, about 3-4x that at the step's peak; "
        f"the bound is {mb} MB: keep batch x sequence at or below {positions:,} "
        f"(e.g. --batch-size {max(1, positions // seq_len)} with --seq-len {seq_len})"
    )
