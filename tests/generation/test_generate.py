"""Generation: the fast LSTM stepper writes exactly what the plain per-character model.forward path
writes, sampling options behave, and state carries across calls."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from charrnn_tui.generation.generator import Generator
from charrnn_tui.model.charrnn import CharRNN
from charrnn_tui.training.trainer import Trainer

PRIME = "HAMLET.\nTo be, or not"


@pytest.fixture(scope="module")
def trained(small_corpus, tmp_path_factory):
    """Tiny real models, keyed by (cell, embed); 150 steps, so that their argmax text varies."""
    from dataclasses import replace

    from charrnn_tui.core.config import TINY

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
        agree += int(gen.logits[0].argmax()) == int(logits[0, i].argmax())
        torch.testing.assert_close(gen.logits[0], logits[0, i], rtol=0, atol=0.1)
    assert agree / len(text) > 0.97
    assert len(list(gen.sample(50, temperature=0.8, seed=1))) == 50


def test_bad_weights_are_refused(trained):
    from charrnn_tui.core.errors import CharRNNError

    model, vocab = trained["lstm", 16]
    with pytest.raises(CharRNNError, match="weights"):
        Generator(model, vocab, weights="fp8")
    gru, vocab = trained["gru", 16]
    with pytest.raises(CharRNNError, match="int8"):
        Generator(gru, vocab, weights="int8")


# ---- several continuations stepped together --------------------------------------------------------------
ROW_KEYS = [("lstm", 16), ("lstm", 0), ("gru", 16)]


@pytest.mark.parametrize("key", ROW_KEYS, ids=["lstm-embed", "lstm-onehot", "gru"])
@pytest.mark.parametrize("prime", [PRIME, "Ha"], ids=["long-prime", "short-prime"])
def test_argmax_rows_are_the_batch_1_text(trained, key, prime):
    model, vocab = trained[key]
    one = generate(Generator(model, vocab), prime, 300, temperature=0)
    gen = Generator(model, vocab, rows=4)
    gen.feed(prime)
    steps = list(gen.sample_rows(300, [0, 0, 0, 0]))
    for r in range(4):
        assert "".join(step[r].char for step in steps) == one
    assert gen.texts == [prime + one] * 4


@pytest.mark.parametrize("key", ROW_KEYS, ids=["lstm-embed", "lstm-onehot", "gru"])
def test_sampled_rows_draw_from_the_batch_1_distributions(trained, key):
    """Row i's per-step probabilities equal those of a batch-1 Generator fed the characters row i drew."""
    model, vocab = trained[key]
    temps, seeds = [0.0, 0.5, 0.8, 1.2], [11, 12, 13, 14]
    gen = Generator(model, vocab, rows=4, top_n=len(vocab))
    gen.feed(PRIME)
    steps = list(gen.sample_rows(120, temps, top_k=0, seeds=seeds))
    for r in range(4):
        ref = Generator(model, vocab)
        ref.feed(PRIME)
        for step in steps:
            tok = step[r]
            want = torch.softmax(ref.logits[0].float(), -1)
            got = torch.tensor([p for _, p in sorted(tok.top, key=lambda cp: vocab.index[cp[0]])])
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
            assert tok.prob == pytest.approx(float(want[vocab.index[tok.char]]), rel=1e-4, abs=1e-6)
            ref.feed(tok.char)
    # Each row drew from its own seeded generator: a batch-1 run with the same seed writes the same text.
    for r in (1, 3):
        batch1 = generate(Generator(model, vocab), PRIME, 120, temperature=temps[r], seed=seeds[r])
        assert "".join(step[r].char for step in steps) == batch1


def test_rows_at_one_temperature_differ_and_repeat(trained):
    model, vocab = trained["lstm", 16]

    def run(seeds):
        gen = Generator(model, vocab, rows=3)
        gen.feed(PRIME)
        steps = list(gen.sample_rows(150, [1.0] * 3, seeds=seeds))
        return ["".join(s[r].char for s in steps) for r in range(3)]

    a = run([1, 2, 3])
    assert len(set(a)) == 3
    assert run([1, 2, 3]) == a


def test_rows_top_k_per_row(trained):
    model, vocab = trained["lstm", 16]
    gen = Generator(model, vocab, rows=2, top_n=3)
    gen.feed(PRIME)
    for step in gen.sample_rows(150, [2.0, 3.0], top_k=3, seeds=[1, 2]):
        for tok in step:
            assert tok.char in {c for c, _ in tok.top}


def test_rows_continue_and_take_typed_text(trained):
    # Continuing, and text typed mid-stream (short: the stepper; long: the model at batch 2), go into every
    # row: each row writes what a batch-1 Generator writes given the same calls.
    model, vocab = trained["lstm", 16]
    calls = [("sample", 40, 0), ("feed", " and"), ("sample", 30, 1), ("feed", PRIME), ("sample", 60, 2)]
    temps, seeds = [0.0, 0.9], [5, 50]
    gen = Generator(model, vocab, rows=2)
    gen.feed(PRIME)
    for call in calls:
        if call[0] == "feed":
            gen.feed(call[1])
        else:
            list(gen.sample_rows(call[1], temps, seeds=[s + call[2] for s in seeds]))
    for r in range(2):
        ref = Generator(model, vocab)
        ref.feed(PRIME)
        for call in calls:
            if call[0] == "feed":
                ref.feed(call[1])
            else:
                list(ref.sample(call[1], temps[r], seed=seeds[r] + call[2]))
        assert gen.texts[r] == ref.text
    assert gen.texts[0] != gen.texts[1]


def test_rows_are_checked(trained):
    from charrnn_tui.core.errors import CharRNNError

    model, vocab = trained["lstm", 16]
    with pytest.raises(CharRNNError, match="rows"):
        Generator(model, vocab, rows=9)
    gen = Generator(model, vocab, rows=2)
    gen.feed(PRIME)
    with pytest.raises(ValueError, match="one temperature"):
        next(gen.sample_rows(5, [0.5]))
    with pytest.raises(ValueError, match="sample_rows"):
        next(gen.sample(5))
    gen.reset(rows=1)
    gen.feed(PRIME)
    assert len(next(gen.sample_rows(5, [0.5]))) == 1


def test_int8_rows_follow_int8_batch_1(trained):
    model, vocab = trained["lstm", 16]
    one = generate(Generator(model, vocab, weights="int8"), PRIME, 200, temperature=0)
    gen = Generator(model, vocab, rows=2, weights="int8")
    gen.feed(PRIME)
    steps = list(gen.sample_rows(200, [0, 0]))
    for r in range(2):
        row = "".join(s[r].char for s in steps)
        # bf16 products of 2 rows may round apart from 1 row's: the text agrees for most of its length.
        same = next((i for i, (x, y) in enumerate(zip(row, one, strict=True)) if x != y), len(one))
        assert same >= 100


def test_tiny_temperatures_are_argmax(trained):
    model, vocab = trained["lstm", 16]
    argmax = generate(Generator(model, vocab), PRIME, 100, temperature=0)
    assert generate(Generator(model, vocab), PRIME, 100, temperature=1e-40, seed=1) == argmax
    gen = Generator(model, vocab, rows=2)
    gen.feed(PRIME)
    steps = list(gen.sample_rows(100, [1e-40, 0], seeds=[1, 2]))
    assert ["".join(s[r].char for s in steps) for r in range(2)] == [argmax, argmax]


def test_block_draws_are_the_single_draws():
    """Rows take their uniforms from their generators in blocks; batch 1 draws one per character. A block
    of n draws must be the n single draws, past a block's end too, or row i would leave batch 1's text."""
    from charrnn_tui.generation.pick import RowDraws, uniform

    n = 2 * RowDraws.BLOCK + 7
    draws = RowDraws([3, None, 9], [False, True, False])
    got = torch.stack([draws.next() for _ in range(n)])  # (n, rows, 1)
    for r, seed in ((0, 3), (2, 9)):
        gen = torch.Generator().manual_seed(seed)
        assert torch.equal(got[:, r, 0], torch.cat([uniform(gen) for _ in range(n)]))
    assert torch.equal(got[:, 1], torch.ones(n, 1))  # a row that does not draw searches at u = 1


@pytest.mark.parametrize("top_n", [0, 5], ids=["no-candidates", "candidates"])
def test_mixed_rows_past_a_block_are_the_batch_1_texts(trained, top_n):
    """Greedy and sampled rows, with and without top-k and candidates (the CLI asks for none), stepped
    together for longer than a block of draws: each row writes its batch-1 twin's text, and its Tokens
    carry the same probabilities and candidates."""
    from charrnn_tui.generation.pick import RowDraws

    model, vocab = trained["lstm", 16]
    length = RowDraws.BLOCK + 44
    temps, seeds = [0.0, 1.0, 0.0, 0.7], [21, 22, 23, 24]
    for top_k in (0, 4):
        gen = Generator(model, vocab, rows=4, top_n=top_n)
        gen.feed(PRIME)
        steps = list(gen.sample_rows(length, temps, top_k=top_k, seeds=seeds))
        for r in range(4):
            ref = Generator(model, vocab, top_n=top_n)
            ref.feed(PRIME)
            want = list(ref.sample(length, temps[r], top_k=top_k, seed=seeds[r]))
            assert "".join(s[r].char for s in steps) == "".join(t.char for t in want)
            for step, tok in zip(steps[::37], want[::37], strict=True):
                assert step[r].prob == pytest.approx(tok.prob, rel=1e-4, abs=1e-6)
                assert [c for c, _ in step[r].top] == [c for c, _ in tok.top]
                assert [p for _, p in step[r].top] == pytest.approx([p for _, p in tok.top], rel=1e-4, abs=1e-6)


def test_tokens_compare_by_value(trained):
    """A Token from sample_rows (candidates read on demand) is the Token written out by hand."""
    from charrnn_tui.generation.tokens import Token

    model, vocab = trained["lstm", 16]
    gen = Generator(model, vocab, rows=2, top_n=3)
    gen.feed(PRIME)
    tok = next(gen.sample_rows(1, [0, 0]))[1]
    plain = Token(tok.char, tok.prob, tuple(tok.top))
    assert len(plain.top) == 3 and plain.top[0][0] == tok.char
    assert tok == plain and hash(tok) == hash(plain) and repr(tok) == repr(plain)
    assert tok != Token(tok.char, tok.prob, ()) and Token("a", 0.5) == Token("a", 0.5, ())


# ---- memory that does not grow with the length --------------------------------------------------------------
def test_generating_keeps_memory_flat():
    """40,000 characters of a CJK vocabulary take no more of the generator's memory than 4,000 (past the 2,000
    characters of text it is asked to keep)."""
    import tracemalloc

    from charrnn_tui.text.vocab import Vocab

    vocab = Vocab.from_text("".join(chr(0x4E00 + i) for i in range(300)) + "\n")
    torch.manual_seed(0)
    model = CharRNN(len(vocab), "lstm", 1, 16, 8).eval()

    def peak(length: int) -> int:
        gen = Generator(model, vocab, top_n=0, keep_text=2_000)
        gen.feed("\n")
        tracemalloc.start()
        for _ in gen.sample(length, temperature=0):
            pass
        size = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert len(gen.text) == min(length + 1, gen.keep_text)
        return size

    small, large = peak(4_000), peak(40_000)
    assert large < 1.5 * small + 100_000, (small, large)
    assert large < 1_500_000  # the old Generator kept ~86 bytes a character: 3.4 MB here
