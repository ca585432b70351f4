"""Evaluation in bounded memory: chunked passes give the unchunked value; training settings with huge logits
are refused up front."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from charrnn_tui.errors import CharRNNError
from charrnn_tui.evaluate import CHUNK_BYTES, evaluate
from charrnn_tui.memory_bounds import MAX_STEP_LOGITS_BYTES, check_step_logits, step_logits_bytes
from charrnn_tui.model import CharRNN


@torch.no_grad()
def unchunked(model: CharRNN, data: torch.Tensor) -> float:
    """The evaluation as first written: 256 characters of every stream per pass, whatever the vocabulary."""
    n = len(data) - 1
    streams = max(1, min(32, n // 512))
    length = n // streams
    x = data[: streams * length].view(streams, length)
    y = data[1 : streams * length + 1].view(streams, length)
    model.eval()
    total, state = 0.0, None
    for start in range(0, length, 256):
        logits, state = model(x[:, start : start + 256].long(), state)
        total += F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), y[:, start : start + 256].reshape(-1), reduction="sum"
        ).item()
    return total / (streams * length)


@pytest.mark.parametrize("embed", [16, 0], ids=["embed", "one-hot"])
@pytest.mark.parametrize("chunk_bytes", [1, 40_000, CHUNK_BYTES], ids=["1-char", "some", "default"])
def test_chunked_equals_unchunked(embed, chunk_bytes):
    torch.manual_seed(0)
    vocab = 300
    model = CharRNN(vocab, "lstm", 2, 32, embed)
    data = torch.randint(0, vocab, (9_000,))
    want = unchunked(model, data)
    model.train()
    assert evaluate(model, data, torch.device("cpu"), chunk_bytes=chunk_bytes) == pytest.approx(want, rel=1e-5)
    assert model.training  # evaluation restores the mode it found


def test_a_cjk_vocabulary_is_evaluated_in_bounded_chunks():
    # 20,000 characters: unchunked, 32 streams x 256 x 20,000 fp32 logits would be 655 MB in one tensor.
    torch.manual_seed(0)
    vocab = 20_000
    model = CharRNN(vocab, "lstm", 1, 16, 8)
    sizes = []
    model.head.register_forward_hook(lambda mod, inp, out: sizes.append(out.numel() * out.element_size()))
    data = torch.randint(0, vocab, (40_000,))
    loss = evaluate(model, data, torch.device("cpu"))
    assert 9 < loss < 11  # about ln(20,000) for an untrained model
    assert max(sizes) <= CHUNK_BYTES
    assert len(sizes) > 40_000 // 32 // 256  # more passes than 256-character windows would take


def test_training_logits_are_bounded():
    check_step_logits(32, 100, 65, 64)  # the default preset on Hamlet
    check_step_logits(32, 100, 20_000, 64)  # ... on a CJK text: 244 MB
    assert step_logits_bytes(200, 30, 20_000, 0) > MAX_STEP_LOGITS_BYTES
    with pytest.raises(CharRNNError) as err:
        check_step_logits(200, 30, 20_000, 0)  # the tutorial preset (one-hot) on a CJK text
    msg = str(err.value)
    assert "916 MB of logits" in msg and "--embed 64" in msg and "--batch-size" in msg
    # The suggestion holds.
    suggested = int(msg.split("--batch-size ")[1].split()[0])
    check_step_logits(suggested, 30, 20_000, 0)
