"""The Kneser-Ney n-gram baseline: hand-worked values, NLTK as an independent implementation, and invariants."""

from __future__ import annotations

import math
import subprocess
import sys
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.scoring import baseline
from charrnn_tui.scoring.baseline import Cancelled, KneserNeyLM, corpus_baseline, estimate_discount, markov_baseline
from charrnn_tui.text.corpus import Corpus


def test_hand_worked_orders_1_and_2() -> None:
    """Training text "abcbab", vocabulary {a, b, c} (V = 3), so the uniform floor is 1/(V+1) = 1/4.

    Order 1 as the top order (raw counts): c(a)=2, c(b)=3, c(c)=1, 6 in all; one count of 1 and one of 2,
    so D = 1/(1+2*1) = 1/3; gamma = D * 3 types / 6 = 1/6.
        p(a) = (2 - 1/3)/6 + 1/6 * 1/4 = 20/72 + 3/72 = 23/72
        p(b) = (3 - 1/3)/6 + 1/24     = 32/72 + 3/72 = 35/72
        p(c) = (1 - 1/3)/6 + 1/24     =  8/72 + 3/72 = 11/72
        p(unseen) = 3/72                                  (sum 72/72)

    Order 1 as a lower order (continuation counts): bigram types ab, bc, cb, ba (4 in all); N1+(.a) = 1 (b),
    N1+(.b) = 2 (a, c), N1+(.c) = 1 (b); two 1s and one 2, so D = 2/(2+2) = 1/2; gamma = 1/2 * 3/4 = 3/8.
        pc(a) = (1 - 1/2)/4 + 3/8 * 1/4 = 4/32 + 3/32 = 7/32
        pc(b) = (2 - 1/2)/4 + 3/32      = 12/32 + 3/32 = 15/32
        pc(c) = 7/32, pc(unseen) = 3/32                   (sum 32/32)

    Order 2 (raw bigram counts ab:2, bc:1, cb:1, ba:1; three 1s, one 2: D = 3/(3+2) = 3/5):
      context "a": c(a.) = 2 (ab twice), 1 type; gamma = 3/5 * 1/2 = 3/10.
        p(b|a) = (2 - 3/5)/2 + 3/10 * 15/32 = 0.7 + 0.140625 = 0.840625
        p(a|a) = p(c|a) = 3/10 * 7/32 = 0.065625;  p(unseen|a) = 3/10 * 3/32 = 0.028125
      context "b": b occurs 3 times but the last one ends the text, so c(b.) = 2 (bc, ba), 2 types;
      gamma = 3/5 * 2/2 = 3/5.
        p(a|b) = p(c|b) = (1 - 3/5)/2 + 3/5 * 7/32 = 0.2 + 0.13125 = 0.33125
        p(b|b) = 3/5 * 15/32 = 0.28125;  p(unseen|b) = 3/5 * 3/32 = 0.05625
      context "d" (never seen): the order-1 continuation distribution, e.g. p(b|d) = 15/32.

    Validation "abd" predicts b after "a" and d (unseen) after "b":
        order 1: (-ln(35/72) - ln(3/72)) / 2;  order 2: (-ln 0.840625 - ln 0.05625) / 2.
    """
    lm = KneserNeyLM("abcbab", order=2)
    expect1 = {"a": 23 / 72, "b": 35 / 72, "c": 11 / 72}
    assert lm.distribution("", order=1) == pytest.approx(expect1, abs=1e-15)
    assert lm.unseen_prob("", order=1) == pytest.approx(3 / 72, abs=1e-15)
    assert lm.distribution("a") == pytest.approx({"a": 0.065625, "b": 0.840625, "c": 0.065625}, abs=1e-15)
    assert lm.unseen_prob("a") == pytest.approx(0.028125, abs=1e-15)
    assert lm.distribution("b") == pytest.approx({"a": 0.33125, "b": 0.28125, "c": 0.33125}, abs=1e-15)
    assert lm.unseen_prob("b") == pytest.approx(0.05625, abs=1e-15)
    assert lm.distribution("d") == pytest.approx({"a": 7 / 32, "b": 15 / 32, "c": 7 / 32}, abs=1e-15)
    # Only the last character of a longer context counts at order 2.
    assert lm.prob("b", "zzza") == pytest.approx(0.840625, abs=1e-15)

    losses = lm.cross_entropy("abd")
    assert losses[1] == pytest.approx((-math.log(35 / 72) - math.log(3 / 72)) / 2, abs=1e-12)
    assert losses[2] == pytest.approx((-math.log(0.840625) - math.log(0.05625)) / 2, abs=1e-12)


def test_discount_estimate() -> None:
    assert estimate_discount([1, 1, 1, 2, 5]) == pytest.approx(3 / 5)
    # No singletons: the formula's 0 would leave no mass below, so the documented fallback applies.
    assert estimate_discount([2, 3, 4]) == 0.5


def _nltk_model(text: str, order: int):
    from nltk.lm import KneserNeyInterpolated
    from nltk.util import everygrams

    lm = KneserNeyInterpolated(order, discount=0.1)
    lm.fit([list(everygrams(list(text), max_len=order))], vocabulary_text=list(text))
    return lm


@pytest.mark.parametrize("order", [2, 3, 4, 5])
def test_matches_nltk_kneser_ney_interpolated(small_corpus: Corpus, order: int) -> None:
    """NLTK's KneserNeyInterpolated uses one discount (0.1) at every order and undiscounted continuation
    unigrams, so ours gets the same discounts ({1: 0, n>1: 0.1}); then the two agree to rounding.

    The text ends with its own first `order` characters so that every context also occurs after some
    character: NLTK divides by zero for a lower-order context seen only at the start of the text.
    Contexts come from the training text and from elsewhere in Hamlet (partly unseen), characters from
    the whole vocabulary.
    """
    body = small_corpus.text[2000:3500]
    text = body + body[:order]
    ours = KneserNeyLM(text, order, discounts={1: 0.0} | {n: 0.1 for n in range(2, order + 1)})
    theirs = _nltk_model(text, order)
    elsewhere = small_corpus.text[9000:9400]
    contexts = {text[i - order + 1 : i] for i in range(order - 1, len(text), 23)}
    contexts |= {elsewhere[i - order + 1 : i] for i in range(order - 1, len(elsewhere), 41)}
    worst = 0.0
    for h in sorted(contexts):
        for w in ours.vocab[::3]:
            worst = max(worst, abs(ours.prob(w, h) - theirs.score(w, list(h))))
    assert worst < 1e-12


def test_estimated_discounts_differ_from_nltk(small_corpus: Corpus) -> None:
    """Without NLTK's fixed discount, ours is a different (estimated-discount) model: the test above
    is not comparing a model with itself."""
    text = small_corpus.text[2000:3500] + small_corpus.text[2000:2003]
    ours, theirs = KneserNeyLM(text, 3), _nltk_model(text, 3)
    assert abs(ours.prob("e", "th") - theirs.score("e", ["t", "h"])) > 1e-3


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(alphabet="abc d\n", min_size=1, max_size=40),
    context=st.text(alphabet="abcdx\n", max_size=6),
    order=st.integers(1, 5),
)
def test_probabilities_sum_to_one(text: str, context: str, order: int) -> None:
    """For every context (seen, unseen, at the start or end of the text) and order, p over the vocabulary
    plus the unseen symbol is a distribution."""
    lm = KneserNeyLM(text, 5)
    dist = lm.distribution(context, order)
    assert all(p > 0 for p in dist.values())
    assert sum(dist.values()) + lm.unseen_prob(context, order) == pytest.approx(1.0, abs=1e-12)


def test_cross_entropy_is_the_mean_of_per_character_losses(small_corpus: Corpus) -> None:
    """The one-pass scorer (all orders at once) gives what prob() gives character by character,
    including the first characters, whose context is shorter than the order."""
    train, val = small_corpus.text[:5000], small_corpus.text[5000:5300] + "\u00e9"
    lm = KneserNeyLM(train, 6)
    fast = lm.cross_entropy(val)
    for order in (1, 3, 6):
        slow = -sum(math.log(lm.prob(val[i], val[max(0, i - order + 1) : i], order)) for i in range(1, len(val)))
        assert fast[order] == pytest.approx(slow / (len(val) - 1), rel=1e-12)


def test_hamlet_table(small_corpus: Corpus) -> None:
    result = corpus_baseline(small_corpus, 0.1, max_order=6)
    assert list(result.losses) == [1, 2, 3, 4, 5, 6]
    assert not result.capped and result.cap_note() is None
    assert result.val_chars == 2000 and result.train_chars == 18000
    # Context helps a lot at first: order 3 is far better than order 1, which is near the unigram entropy.
    assert result.losses[3] < result.losses[1] - 1.0
    assert 2.9 < result.losses[1] < 3.6
    assert result.best_loss == min(result.losses.values())


def _levels(lm: KneserNeyLM) -> list[tuple]:
    """Every level's counts, totals and types as (key, value) lists in dict order, its discount and tail."""
    return [
        (list(lv.counts.items()), list(lv.total.items()), list(lv.types.items()), lv.discount, lv.tail)
        for lv in lm.raw[1:] + lm.cont[1:]
    ]


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_chunked_counting_makes_the_one_pass_model(
    small_corpus: Corpus, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fit counts CHUNK positions or keys per C call (so that other threads get the GIL between them); with
    a tiny chunk, 3,000 characters are hundreds of chunks, with their boundaries everywhere: the model is the one
    a single pass per count makes (CHUNK larger than any pass), to the dict order and the loss's last bit, and its
    raw counts are every n-gram of the text."""
    train, val = small_corpus.text[:3000], small_corpus.text[3000:3400] + "\u00e9"
    monkeypatch.setattr(baseline, "CHUNK", 10**9)
    one_pass = KneserNeyLM(train, 6)
    monkeypatch.setattr(baseline, "CHUNK", chunk)
    chunked = KneserNeyLM(train, 6)
    assert _levels(chunked) == _levels(one_pass)
    assert chunked.cross_entropy(val) == one_pass.cross_entropy(val)
    for n in range(1, 7):
        assert chunked.raw[n].counts == Counter(train[i : i + n] for i in range(len(train) - n + 1))
    # Continuation counts are keyed by the raw counts' own strings: one copy of each n-gram in memory.
    assert {id(k) for k in chunked.cont[3].counts} <= {id(k) for k in chunked.raw[3].counts}


def test_unseen_validation_characters_have_a_finite_loss() -> None:
    result = markov_baseline("abababab", "ab\u00e9\u00e9b", max_order=2)
    assert result.unseen_val == 2
    assert all(math.isfinite(v) for v in result.losses.values())


def test_cap_applies_and_says_so() -> None:
    result = markov_baseline("ab" * 5000, "ba" * 3000, max_order=3, max_train_chars=1000, max_val_chars=500)
    assert (result.train_chars, result.train_total, result.val_chars, result.val_total) == (1000, 10000, 500, 6000)
    assert result.capped
    note = result.cap_note()
    assert note is not None and "1,000 of 10,000" in note and "500 of 6,000" in note


def test_bad_input_is_a_charrnn_error() -> None:
    with pytest.raises(CharRNNError, match="validation split is too short"):
        markov_baseline("abc", "a")
    with pytest.raises(CharRNNError, match="order must be 1 to 10"):
        KneserNeyLM("abc", 11)
    with pytest.raises(CharRNNError, match="non-empty"):
        KneserNeyLM("", 3)
    with pytest.raises(CharRNNError, match="between 0 and 1"):
        KneserNeyLM("abc", 2, discounts={2: 1.5})
    with pytest.raises(CharRNNError, match="val-fraction"):
        corpus_baseline(Corpus("x", "abc", "x"), 0.0)


def test_should_stop_cancels() -> None:
    with pytest.raises(Cancelled):
        markov_baseline("abc" * 100, "abc" * 10, should_stop=lambda: True)


def test_progress_counts_the_scored_characters_and_should_stop_ends_the_scoring() -> None:
    train, val = "abcabd" * 100, "abcab" * 2000  # 9,999 predictions: reports at 4,095 and 8,191 on the way
    seen: list[tuple[int, int]] = []
    result = markov_baseline(train, val, max_order=3, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(0, 9999), (4095, 9999), (8191, 9999), (9999, 9999)]
    assert result.losses == markov_baseline(train, val, max_order=3).losses
    seen.clear()
    with pytest.raises(Cancelled):
        markov_baseline(
            train, val, max_order=3, progress=lambda d, t: seen.append((d, t)), should_stop=lambda: len(seen) >= 2
        )
    assert seen == [(0, 9999), (4095, 9999)]  # it gave up at the next check, before scoring the rest


def test_cli_prints_the_table(run_cli, small_text_file) -> None:
    done = run_cli("--baseline", "--corpus", str(small_text_file), "--val-fraction", "0.2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "16,000 training characters" in lines[0] and "3,999 validation" in lines[0]
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["order", "nats/char"])
    rows = [line.split() for line in lines[header + 1 : header + 11]]
    assert [int(r[0]) for r in rows] == list(range(1, 11))
    expected = corpus_baseline(Corpus("play", small_text_file.read_text(encoding="utf-8"), "x"), 0.2)
    for r in rows:
        nats, bits, ppl = float(r[1]), float(r[2]), float(r[3])
        assert nats == pytest.approx(expected.losses[int(r[0])], abs=1e-4)
        assert bits == pytest.approx(nats / math.log(2), abs=1e-3) and ppl == pytest.approx(math.exp(nats), rel=1e-3)
    marked = [int(r[0]) for r in rows if "best" in r]
    assert marked == [expected.best_order]


def test_cli_errors(run_cli, small_text_file) -> None:
    bad = run_cli("--baseline", "--corpus", str(small_text_file), "--val-fraction", "1.5")
    assert bad.returncode == 1 and "val-fraction" in bad.stderr and "Traceback" not in bad.stderr
    both = run_cli("--baseline", "--train-only")
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_baseline_is_torch_free() -> None:
    """The CLI's --baseline and the TUI's worker must not pay for importing torch."""
    code = (
        "import sys, charrnn_tui.scoring.baseline; sys.exit(('torch' in sys.modules) + 2 * ('textual' in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
