"""Evaluation: parts read side by side, in bounded chunks, give the value of one unbroken stream; training
settings with huge logits are refused up front."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from charrnn_tui.core.config import TINY
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.core.events import Finished
from charrnn_tui.model.charrnn import CharRNN
from charrnn_tui.model.memory_bounds import MAX_STEP_LOGITS_BYTES, check_step_logits, step_logits_bytes
from charrnn_tui.scoring.evaluate import CHUNK_BYTES, evaluate
from charrnn_tui.text.corpus import Corpus
from charrnn_tui.text.vocab import Vocab
from charrnn_tui.training.trainer import Trainer


@torch.no_grad()
def one_stream(model: CharRNN, data: torch.Tensor) -> float:
    """The definition: every character predicted from all the characters before it, in one forward pass."""
    model.eval()
    logits, _ = model(data[:-1].view(1, -1).long())
    return F.cross_entropy(logits[0], data[1:].long()).item()


@pytest.mark.parametrize("embed", [16, 0], ids=["embed", "one-hot"])
@pytest.mark.parametrize("chunk_bytes", [1, 40_000, CHUNK_BYTES], ids=["1-char", "some", "default"])
def test_chunking_does_not_change_the_value(embed, chunk_bytes):
    # An untrained model forgets within a few characters, so this checks the chunks and the leftover
    # characters, not the warm-up: the trained models below check that.
    torch.manual_seed(0)
    vocab = 300
    model = CharRNN(vocab, "lstm", 2, 32, embed)
    data = torch.randint(0, vocab, (9_000,))  # 17 parts of 529 characters, and 6 left over
    want = one_stream(model, data)
    model.train()
    assert evaluate(model, data, torch.device("cpu"), chunk_bytes=chunk_bytes) == pytest.approx(want, rel=1e-5)
    assert model.training  # evaluation restores the mode it found


@pytest.fixture(scope="module")
def trained_models(small_corpus: Corpus) -> dict[str, CharRNN]:
    """Real models with a memory to lose: 2 layers of 64, 150 steps on Hamlet's head, of each cell kind."""
    models = {}
    for cell in ("lstm", "gru", "rnn"):
        cfg = replace(TINY, cell=cell, n_layers=2, hidden=64, steps=150, lr=1e-2, eval_interval=1000,
                      checkpoint_seconds=0, device="cpu", seed=1)  # fmt: skip
        trainer = Trainer(small_corpus, cfg)
        assert isinstance(trainer.run(), Finished)
        models[cell] = trainer.snapshot()[0]
    return models


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("chars", [16_500, 16_385, 1_000], ids=["leftover", "none-left-over", "one-part"])
def test_every_part_starts_with_its_context(trained_models, small_corpus: Corpus, cell: str, chars: int) -> None:
    """Parts read side by side score what one stream does: no part starts from a blank state. From blank
    states (the evaluation before round 7) the same text scores 0.001-0.004 nats/char higher here, and 0.0105
    on Hamlet's validation text with a 60 s default model."""
    model = trained_models[cell]
    data = Vocab.from_text(small_corpus.text).encode_tensor(small_corpus.text[:chars])
    want = one_stream(model, data)
    assert evaluate(model, data, torch.device("cpu")) == pytest.approx(want, abs=1e-5)
    if chars > 1024:  # the test can tell: starting every part blank is measurably worse
        assert evaluate_with_blank_starts(model, data) - want > 5e-4  # 50 times the tolerance


def test_the_state_handed_on_is_contiguous(trained_models, small_corpus: Corpus) -> None:
    # cuDNN refuses a non-contiguous hx; a slice of a 2-layer state is not contiguous unless made so.
    model = trained_models["lstm"]
    seen = []

    def check(module, args):
        if len(args) > 1 and args[1] is not None:
            seen.append(all(part.is_contiguous() for part in args[1]))

    handle = model.rnn.register_forward_pre_hook(check)
    try:
        data = Vocab.from_text(small_corpus.text).encode_tensor(small_corpus.text[:16_500])
        evaluate(model, data, torch.device("cpu"))
    finally:
        handle.remove()
    assert seen and all(seen)


def test_too_short_a_text_is_refused() -> None:
    model = CharRNN(10, "lstm", 1, 8, 4)
    with pytest.raises(ValueError, match="at least 2"):
        evaluate(model, torch.tensor([3]), torch.device("cpu"))


@torch.no_grad()
def evaluate_with_blank_starts(model: CharRNN, data: torch.Tensor) -> float:
    n = len(data) - 1
    streams = min(32, n // 512)
    length = n // streams
    x = data[: streams * length].view(streams, length).long()
    y = data[1 : streams * length + 1].view(streams, length).long()
    logits, _ = model(x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).item()


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
