"""Seeing inside the model: surprise matches the trainer's loss, recorded states match the model's own
forward pass, and the cell ranking finds a planted signal."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from charrnn_tui.core.config import TINY
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.inside.inspection import (
    PROPERTIES,
    bracket_depth,
    cell_char_cap,
    correlations,
    inside_quotes,
    line_position,
    rank_cells,
    record_cells,
    speaker_line,
    surprise,
    word_start,
)
from charrnn_tui.scoring.evaluate import evaluate
from charrnn_tui.training.trainer import Trainer


@pytest.fixture(scope="module")
def trained(small_corpus):
    """Tiny real 2-layer models of each cell kind (30 steps: enough to be far from their initial weights)."""
    models = {}
    for cell in ("lstm", "gru", "rnn"):
        cfg = replace(
            TINY, cell=cell, n_layers=2, hidden=24, steps=30, eval_interval=1000, checkpoint_seconds=0, device="cpu"
        )
        trainer = Trainer(small_corpus, cfg)
        trainer.run()
        models[cell] = trainer.snapshot()
    return models


@pytest.fixture(scope="module")
def val_text(small_corpus) -> str:
    # Under 1,024 characters, evaluate() reads it as a single stream, exactly as surprise() does.
    return small_corpus.text[-900:]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_surprise_mean_is_the_trainers_validation_loss(trained, val_text: str, cell: str) -> None:
    model, vocab = trained[cell]
    s = surprise(model, vocab, val_text)
    expected = evaluate(model, vocab.encode_tensor(val_text), torch.device("cpu"))
    assert s.mean_nats == pytest.approx(expected, rel=1e-5)
    assert s.mean_bits == pytest.approx(expected / math.log(2), rel=1e-5)
    assert s.n_predicted == len(val_text) - 1 and s.bits.shape == (len(val_text) - 1,)
    assert s.sum_bits == pytest.approx(float(s.bits.double().sum()), rel=1e-5)


def test_surprise_per_character_values(trained, val_text: str) -> None:
    """Against one plain forward pass over the whole text (no chunks): each character's probability,
    its surprisal in bits, and the top-k list."""
    model, vocab = trained["lstm"]
    s = surprise(model, vocab, val_text, top_k=4)
    with torch.no_grad():
        logits, _ = model(torch.tensor([vocab.encode(val_text[:-1])]))
    probs = F.softmax(logits[0], dim=-1)
    targets = torch.tensor(vocab.encode(val_text[1:]))
    expected = probs[torch.arange(len(targets)), targets]
    assert torch.allclose(s.prob, expected, atol=1e-5)
    assert torch.allclose(s.bits, -torch.log2(expected), atol=1e-4)
    assert s.top_ids.shape == (len(targets), 4)
    assert torch.equal(s.top_ids[:, 0], probs.argmax(dim=-1))
    assert torch.all(s.top_probs[:, :-1] >= s.top_probs[:, 1:])
    assert torch.all(s.prob <= s.top_probs[:, 0] + 1e-6)


def test_surprise_caps_and_refuses(trained, val_text: str) -> None:
    model, vocab = trained["lstm"]
    s = surprise(model, vocab, val_text, max_chars=100)
    assert s.truncated and s.text == val_text[:100] and s.bits.shape == (99,)
    assert not surprise(model, vocab, val_text).truncated
    with pytest.raises(CharRNNError, match="at least 2"):
        surprise(model, vocab, "a")
    with pytest.raises(CharRNNError, match="never saw"):
        surprise(model, vocab, "to be \u2603")


def step_by_step_states(model, vocab, text: str) -> torch.Tensor:
    """The model's own nn.LSTM/GRU/RNN, one character per call, reading each layer's state after each step:
    (layers, chars, hidden), c for an LSTM, h otherwise."""
    out, state = [], None
    with torch.no_grad():
        for ch in text:
            _, state = model(torch.tensor([[vocab.index[ch]]]), state)
            out.append(state[1][:, 0] if isinstance(state, tuple) else state[:, 0])
    return torch.stack(out, dim=1)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_recorded_states_equal_the_models_forward_pass(trained, val_text: str, cell: str) -> None:
    model, vocab = trained[cell]
    text = val_text[:300]
    trace = record_cells(model, vocab, text)
    assert trace.states.shape == (2, 300, 24) and trace.states.dtype == torch.float32
    assert trace.kind == ("c" if cell == "lstm" else "h")
    assert torch.allclose(trace.states, step_by_step_states(model, vocab, text), atol=1e-5)
    # And the last layer's h over the whole text in one call, for the h cells.
    if cell != "lstm":
        with torch.no_grad():
            out, _ = model.rnn(model.inputs(torch.tensor([vocab.encode(text)])))
        assert torch.allclose(trace.states[-1], out[0], atol=1e-5)


def test_record_cells_caps_memory(trained, val_text: str) -> None:
    model, vocab = trained["lstm"]
    per_char = 2 * 24 * 4
    assert cell_char_cap(model, max_chars=10_000, max_bytes=per_char * 50) == 50
    trace = record_cells(model, vocab, val_text, max_chars=120)
    assert trace.truncated and trace.text == val_text[:120] and trace.states.shape[1] == 120


def test_properties_by_hand() -> None:
    text = 'A "b(c)" d\nHAMLET\nx[y[z]]'
    assert inside_quotes(text)[:9] == [0, 0, 1, 1, 1, 1, 1, 0, 0]
    assert bracket_depth(text)[3:8] == [0, 1, 1, 0, 0]
    assert bracket_depth(text)[-6:] == [1, 1, 2, 2, 1, 0]
    assert line_position("ab\ncd") == [1, 2, 0, 1, 2]
    assert speaker_line("Hi\nHAMLET.\nyo") == [0, 0, 0] + [1] * 7 + [0, 0, 0]
    assert word_start("to be, or") == [1, 0, 0, 1, 0, 0, 0, 1, 0]
    for fn in PROPERTIES.values():
        assert len(fn(text)) == len(text)


def test_ranking_finds_a_planted_signal(small_corpus) -> None:
    """Synthetic activations: noise everywhere, plus the line position in layer 1 cell 7 and the negated
    speaker-name flag in layer 0 cell 3; the ranking must put exactly those first, with their signs."""
    text = small_corpus.text[:3000]
    gen = torch.Generator().manual_seed(0)
    states = torch.randn(2, len(text), 32, generator=gen)
    pos = torch.tensor(line_position(text))
    states[1, :, 7] += (pos - pos.mean()) / pos.std() * 2
    speaker = torch.tensor(speaker_line(text))
    states[0, :, 3] -= (speaker - speaker.mean()) / speaker.std() * 2
    ranked = rank_cells(states, text, top=3)
    best = ranked["position in line"][0]
    assert (best.layer, best.cell) == (1, 7) and best.r > 0.8
    best = ranked["speaker-name line"][0]
    assert (best.layer, best.cell) == (0, 3) and best.r < -0.8
    # Every unplanted cell is far behind (the speaker cell correlates with line position for real: speaker
    # lines are short); Hamlet's head has no double quotes, so no cell "tracks" them.
    r_pos = correlations(states, line_position(text)).abs()
    r_pos[1, 7] = r_pos[0, 3] = 0
    assert r_pos.max() < 0.1
    assert ranked["inside quotes"] == []
    word = [abs(m.r) for m in ranked["start of a word"]]
    assert word == sorted(word, reverse=True) and len(word) == 3


def test_correlation_of_a_constant_cell_is_zero() -> None:
    states = torch.zeros(1, 10, 2)
    states[0, :, 1] = torch.arange(10.0)
    r = correlations(states, [float(i) for i in range(10)])
    assert r.tolist() == [[0.0, pytest.approx(1.0)]]


def test_real_model_ranking_runs(trained, val_text: str) -> None:
    model, vocab = trained["lstm"]
    trace = record_cells(model, vocab, val_text)
    ranked = rank_cells(trace.states, trace.text)
    assert set(ranked) == set(PROPERTIES)
    for matches in ranked.values():
        assert all(-1 <= m.r <= 1 and 0 <= m.layer < 2 and 0 <= m.cell < 24 for m in matches)
