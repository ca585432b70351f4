"""The long parts of "look inside" report their progress and stop when asked (issue 26): surprise() reads
the text as evaluate() does, parts side by side, and still gives the one-stream figures."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from charrnn_tui.inside.inspection import PROPERTIES, rank_cells, record_cells, surprise
from charrnn_tui.model.charrnn import CharRNN
from charrnn_tui.scoring.baseline import Cancelled
from charrnn_tui.text.corpus import load_builtin
from charrnn_tui.text.vocab import Vocab

HAMLET = load_builtin("hamlet").text


class CountingRNN(CharRNN):
    """A real CharRNN that counts its forward passes (and the characters they read)."""

    calls = 0

    def forward(self, x, state=None):
        self.calls += 1
        return super().forward(x, state)


@pytest.fixture(scope="module")
def model_and_vocab() -> tuple[CountingRNN, Vocab]:
    vocab = Vocab.from_text(HAMLET)
    torch.manual_seed(0)
    model = CountingRNN(len(vocab), "lstm", 2, 24, 8).eval()
    # Far from its initial weights without a training run: larger recurrent weights give it a long memory,
    # the case where reading parts side by side could differ from one stream.
    with torch.no_grad():
        for name, w in model.rnn.named_parameters():
            if name.startswith("weight_hh"):
                w.mul_(4)
    return model, vocab


@torch.no_grad()
def one_stream(model: CharRNN, vocab: Vocab, text: str) -> tuple[float, torch.Tensor]:
    """Mean nats/char and per-character nats of text[1:] read in one forward pass at batch 1."""
    logits, _ = CharRNN.forward(model, torch.tensor([vocab.encode(text[:-1])]))
    nll = F.cross_entropy(logits[0], torch.tensor(vocab.encode(text[1:])), reduction="none")
    return float(nll.double().mean()), nll


def test_side_by_side_surprise_is_the_one_stream_value(model_and_vocab) -> None:
    model, vocab = model_and_vocab
    text = HAMLET[5000:8001]  # 3,000 predictions: 5 parts of 600 side by side
    model.calls = 0
    s = surprise(model, vocab, text, top_k=3)
    mean, nll = one_stream(model, vocab, text)
    assert s.mean_nats == pytest.approx(mean, abs=1e-5)
    assert s.n_predicted == 3000 and s.bits.shape == (3000,) and s.top_ids.shape == (3000, 3)
    # Each character in its place: every part but the first starts from 128 warm-up characters, not blank.
    assert torch.allclose(s.bits * torch.log(torch.tensor(2.0)), nll, atol=1e-3)
    # Side by side: 1 warm-up pass and 3 windows of 256 over 600 characters per part, not 12 at batch 1.
    assert model.calls == 1 + 3


def test_surprise_leftover_characters_continue_the_last_part(model_and_vocab) -> None:
    model, vocab = model_and_vocab
    text = HAMLET[:1100]  # 1,099 predictions: 2 parts of 549, and 1 left over
    s = surprise(model, vocab, text)
    mean, nll = one_stream(model, vocab, text)
    assert s.mean_nats == pytest.approx(mean, abs=1e-5) and s.bits.shape == (1099,)
    assert torch.allclose(s.bits[-5:] * torch.log(torch.tensor(2.0)), nll[-5:], atol=1e-4)


def test_surprise_progress_rises_to_the_total_and_should_stop_stops_it(model_and_vocab) -> None:
    model, vocab = model_and_vocab
    text = HAMLET[:3001]
    seen: list[tuple[int, int]] = []
    surprise(model, vocab, text, progress=lambda done, total: seen.append((done, total)))
    assert [t for _, t in seen] == [3000] * len(seen) and len(seen) >= 3
    dones = [d for d, _ in seen]
    assert dones == sorted(set(dones)) and dones[-1] == 3000 and dones[0] > 0

    model.calls = 0
    asked: list[int] = []

    def stop_after_two() -> bool:
        asked.append(model.calls)
        return model.calls >= 2

    with pytest.raises(Cancelled):
        surprise(model, vocab, text, should_stop=stop_after_two)
    assert model.calls == 2  # the warm-up and one window: it stopped at the next check, 2 windows early


def test_record_cells_progress_and_stop(model_and_vocab) -> None:
    model, vocab = model_and_vocab
    text = HAMLET[:600]
    seen: list[tuple[int, int]] = []
    trace = record_cells(model, vocab, text, progress=lambda done, total: seen.append((done, total)))
    assert trace.states.shape == (2, 600, 24)
    assert seen == [(256, 1200), (512, 1200), (600, 1200), (856, 1200), (1112, 1200), (1200, 1200)]

    checks: list[int] = []

    def stop_in_layer_two() -> bool:
        checks.append(1)
        return len(checks) > 4  # layer 1's 3 checks, then layer 2's first passes and its second stops

    seen.clear()
    with pytest.raises(Cancelled):
        record_cells(model, vocab, text, should_stop=stop_in_layer_two, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (856, 1200) and len(checks) == 5


def test_rank_cells_progress_and_stop() -> None:
    text = HAMLET[:500]
    states = torch.randn(2, len(text), 8, generator=torch.Generator().manual_seed(1))
    seen: list[tuple[int, int]] = []
    ranked = rank_cells(states, text, progress=lambda done, total: seen.append((done, total)))
    n = len(PROPERTIES)
    assert set(ranked) == set(PROPERTIES) and seen == [(i, n) for i in range(1, n + 1)]
    seen.clear()
    with pytest.raises(Cancelled):
        rank_cells(states, text, progress=lambda d, t: seen.append((d, t)), should_stop=lambda: len(seen) >= 2)
    assert seen == [(1, n), (2, n)]
