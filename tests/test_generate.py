"""Generation: the fast LSTM stepper writes exactly what the plain per-character model.forward path
writes, sampling options behave, and state carries across calls."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from charrnn_tui.generate import Generator
from charrnn_tui.model import CharRNN
from charrnn_tui.trainer import Trainer

PRIME = "HAMLET.\nTo be, or not"


@pytest.fixture(scope="module")
def trained(small_corpus, tmp_path_factory):
    """Tiny real models, keyed by (cell, embed); 150 steps, so that their argmax text varies."""
    from dataclasses import replace

    from charrnn_tui.config import TINY

    models = {}
    for cell, embed in (("lstm", 16), ("lstm", 0), ("gru", 16)):
        cfg = replace(
            TINY,
            cell=cell,
            embed=embed,
            n_layers=2,
            hidden=48,
            steps=150,
            max_seconds=0,
            eval_interval=1000,
            checkpoint_seconds=0,
            device="cpu",
        )
        trainer = Trainer(small_corpus, cfg)
        trainer.run()
        models[cell, embed] = trainer.snapshot()
    return models


def plain_argmax(model: CharRNN, vocab, prime: str, length: int) -> str:
    """The straightforward way: model.forward on the prime, then once per character."""
    with torch.no_grad():
        logits, state = model(torch.tensor([vocab.encode(prime)]), None)
        out = []
        for _ in range(length):
            idx = int(logits[0, -1].argmax())
            out.append(vocab.chars[idx])
            logits, state = model(torch.tensor([[idx]]), state)
    return "".join(out)


def generate(gen: Generator, prime: str, length: int, **kw) -> str:
    gen.feed(prime)
    return "".join(t.char for t in gen.sample(length, **kw))


@pytest.mark.parametrize("key", [("lstm", 16), ("lstm", 0), ("gru", 16)], ids=["lstm-embed", "lstm-onehot", "gru"])
def test_argmax_is_the_plain_forward_path(trained, key):
    model, vocab = trained[key]
    gen = Generator(model, vocab)
    assert (gen._stepper is not None) == (key[0] == "lstm")
    assert generate(gen, PRIME, 400, temperature=0) == plain_argmax(model, vocab, PRIME, 400)


def test_short_feeds_step_and_match_the_plain_path(trained):
    # A prime of a few characters goes through the stepper, a long one through the model.
    model, vocab = trained["lstm", 16]
    assert generate(Generator(model, vocab), "Ha", 200, temperature=0) == plain_argmax(model, vocab, "Ha", 200)


def test_tokens_are_sane(trained):
    model, vocab = trained["lstm", 16]
    gen = Generator(model, vocab, top_n=5)
    gen.feed(PRIME)
    with torch.no_grad():
        logits, _ = model(torch.tensor([vocab.encode(PRIME)]))
    first_probs = torch.softmax(logits[0, -1], -1)
    tokens = list(gen.sample(100, temperature=0))
    for tok in tokens:
        assert tok.char in vocab.chars
        assert 0 < tok.prob <= 1
        assert len(tok.top) == 5
        probs = [p for _, p in tok.top]
        assert probs == sorted(probs, reverse=True)
        assert sum(probs) <= 1 + 1e-6
        assert tok.top[0] == (tok.char, tok.prob)  # argmax draws the likeliest
    assert math.isclose(tokens[0].prob, float(first_probs.max()), rel_tol=1e-5)
    assert gen.text == PRIME + "".join(t.char for t in tokens)


def test_sampled_token_reports_its_own_probability(trained):
    model, vocab = trained["lstm", 16]
    gen = Generator(model, vocab, top_n=len(vocab))
    gen.feed(PRIME)
    for tok in gen.sample(100, temperature=1.5, seed=3):
        assert dict(tok.top)[tok.char] == pytest.approx(tok.prob)


def test_top_k_1_is_argmax(trained):
    model, vocab = trained["lstm", 16]
    argmax = generate(Generator(model, vocab), PRIME, 200, temperature=0)
    assert generate(Generator(model, vocab), PRIME, 200, temperature=1.0, top_k=1, seed=5) == argmax


def test_top_k_keeps_to_the_k_likeliest(trained):
    model, vocab = trained["lstm", 16]
    gen = Generator(model, vocab, top_n=3)
    gen.feed(PRIME)
    for tok in gen.sample(200, temperature=2.0, top_k=3, seed=1):
        assert tok.char in {c for c, _ in tok.top}


def test_seeded_sampling_is_reproducible(trained):
    model, vocab = trained["lstm", 16]
    a = generate(Generator(model, vocab), PRIME, 200, temperature=1.0, seed=7)
    b = generate(Generator(model, vocab), PRIME, 200, temperature=1.0, seed=7)
    c = generate(Generator(model, vocab), PRIME, 200, temperature=1.0, seed=8)
    assert a == b
    assert a != c


def test_continuing_equals_one_go(trained):
    model, vocab = trained["lstm", 16]
    one = Generator(model, vocab)
    whole = generate(one, PRIME, 300, temperature=0)
    two = Generator(model, vocab)
    part = generate(two, PRIME, 120, temperature=0)
    part += "".join(t.char for t in two.sample(180, temperature=0))
    assert part == whole
    assert two.text == one.text


def test_stopping_early_keeps_the_state_of_the_last_character(trained):
    # The app stops a stream whenever the user asks; continuing must pick up exactly there.
    model, vocab = trained["lstm", 16]
    whole = generate(Generator(model, vocab), PRIME, 150, temperature=0)
    gen = Generator(model, vocab)
    gen.feed(PRIME)
    head = "".join(t.char for t in itertools.islice(gen.sample(1000, temperature=0), 45))
    tail = "".join(t.char for t in gen.sample(105, temperature=0))
    assert head + tail == whole
    assert gen.text == PRIME + whole


def test_typed_text_mid_stream_equals_feeding_it_all(trained):
    # Mid-stream text goes through the stepper; the same text fed at once goes through the model.
    model, vocab = trained["lstm", 16]
    a = Generator(model, vocab)
    generate(a, PRIME, 50, temperature=0)
    a.feed(" and")
    rest = "".join(t.char for t in a.sample(100, temperature=0))
    b = Generator(model, vocab)
    assert generate(b, a.text[: len(a.text) - 100], 100, temperature=0) == rest


def test_state_round_trips(trained):
    model, vocab = trained["lstm", 16]
    gen = Generator(model, vocab)
    assert gen.state is None
    generate(gen, PRIME, 40, temperature=0)
    h, c = gen.state
    assert h.shape == c.shape == (model.n_layers, 1, model.hidden)
    with torch.no_grad():
        _, (h_ref, c_ref) = model(torch.tensor([vocab.encode(gen.text)]))
    torch.testing.assert_close(h, h_ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(c, c_ref, rtol=1e-4, atol=1e-5)
    other = Generator(model, vocab)
    other.state = gen.state
    other.feed("e")
    gen.feed("e")
    continued = "".join(t.char for t in gen.sample(100, temperature=0))
    assert "".join(t.char for t in other.sample(100, temperature=0)) == continued


def test_follows_weights_changed_in_place(trained):
    model, vocab = trained["lstm", 16]
    model = CharRNN(len(vocab), "lstm", model.n_layers, model.hidden, 16).eval()
    gen = Generator(model, vocab)
    generate(gen, PRIME, 10, temperature=0)
    model.load_state_dict(trained["lstm", 16][0].state_dict())  # e.g. a newer checkpoint
    gen.reset()
    assert generate(gen, PRIME, 200, temperature=0) == plain_argmax(model, vocab, PRIME, 200)


def test_sampling_needs_a_prime(trained):
    model, vocab = trained["lstm", 16]
    with pytest.raises(ValueError, match="prime"):
        next(Generator(model, vocab).sample(5))


def test_int8_weights_stay_close_to_fp32(trained, small_corpus):
    model, vocab = trained["lstm", 16]
    text = small_corpus.text[-600:]
    with torch.no_grad():
        logits, _ = model(torch.tensor([vocab.encode(text)]))
    gen = Generator(model, vocab, weights="int8")
    agree = 0
    for i, ch in enumerate(text):
        gen.feed(ch)
        agree += int(gen.logits.argmax()) == int(logits[0, i].argmax())
        torch.testing.assert_close(gen.logits, logits[0, i], rtol=0, atol=0.1)
    assert agree / len(text) > 0.97
    assert len(list(gen.sample(50, temperature=0.8, seed=1))) == 50


def test_bad_weights_are_refused(trained):
    from charrnn_tui.errors import CharRNNError

    model, vocab = trained["lstm", 16]
    with pytest.raises(CharRNNError, match="weights"):
        Generator(model, vocab, weights="fp8")
    gru, vocab = trained["gru", 16]
    with pytest.raises(CharRNNError, match="int8"):
        Generator(gru, vocab, weights="int8")
