"""The Markov baseline: character n-gram models of orders 1 to 10 with interpolated Kneser-Ney smoothing.

The variant is **interpolated Kneser-Ney with one fixed discount per order** (Kneser & Ney 1995; Chen &
Goodman 1998, "An Empirical Study of Smoothing Techniques for Language Modeling", section 2.7 and eq. 26),
as KenLM's and SRILM's interpolated KN with a single discount do it. For a model of order N and a
context h of N-1 characters,

    p_N(w | h) = max(c(hw) - D, 0) / c(h.) + D * N1+(h.) / c(h.) * p_{N-1}(w | h')

where h' is h without its first character, c(hw) is how often hw occurs in the training text, c(h.) the
sum of c(hw) over w and N1+(h.) the number of distinct w after h. The top order uses those raw counts;
every lower order k < N uses *continuation counts* instead: c(hw) becomes N1+(.hw), the number of
distinct characters seen before hw, so a lower order answers "how many contexts does w complete", the
essence of Kneser-Ney. Below order 1 is the uniform distribution over the vocabulary plus one "unseen"
symbol, 1/(V+1): every character the training text never had (all of them share that symbol, as NLTK's
`<UNK>` and KenLM's `<unk>` do) gets a small non-zero probability, so a validation text with new
characters has a finite loss.

Discounts: D = n1 / (n1 + 2 n2) for each order, estimated separately from that order's raw counts (when it
is the top order) and from its continuation counts (when it is a lower order), n1 and n2 being the number
of n-grams counted exactly once and twice (Chen & Goodman 1998, eq. 26, after Ney, Essen & Kneser 1994).
When n1 = 0 the formula would give D = 0 (no mass for the lower orders, none for unseen characters), so
D = 0.5 is used then.

Against NLTK: `nltk.lm.KneserNeyInterpolated` is the same recursion with three differences: one discount
for every order (0.1 by default, not estimated), an undiscounted continuation unigram with no uniform
below it (a character it never saw gets probability 0), and, at a lower order, N1+(h.) taken from raw
counts (which differs only for a context at the very start of the text, where NLTK divides by zero).
Given NLTK's discounts, `KneserNeyLM(text, n, discounts={1: 0.0, 2: 0.1, ..., n: 0.1})` agrees with it to
rounding (1e-15) on texts without that edge; tests/test_baseline.py checks it.

Context the counts never saw: the order passes everything to the order below (alpha = 0, gamma = 1),
as NLTK does. A context that only occurs at the very start of the training text has no continuation
counts (no character before it), which counts as never seen at the lower orders.

Scoring matches the RNN's `evaluate()`: the validation text's characters 1..n-1 are predicted, each from
the validation characters before it (up to N-1 of them); where fewer than N-1 precede a character (the
first few), the model of order len(context)+1 stands in as the top order. Losses are in nats/char.

Pure Python on dicts, counted with C loops (Counter over str slices, itemgetter, compress), each over at most
CHUNK items so that the app's UI thread gets the GIL between them (within ~10 ms): every n-gram of
every order is counted once (about 1.3 s for Hamlet's 160K training characters, orders 1-10, on a shared Zen 3
core; scoring its 17,635 validation characters 0.5 s more), so the whole table costs a few seconds. Memory
grows with the number of distinct n-grams (about 650K for Hamlet, 150 MB at the peak), so the text used is
capped (`MAX_TRAIN_CHARS`, `MAX_VAL_CHARS`) and the result says when the cap applied.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import compress, islice
from operator import countOf, itemgetter

from charrnn_tui.core.errors import Cancelled, CharRNNError
from charrnn_tui.text.corpus import Corpus

MAX_ORDER = 10
# About 370 MB of Python dicts and 5 s for 500K training characters at order 10 (150 MB, 2 s for Hamlet):
# the cap keeps a huge corpus to that while leaving every built-in play (the largest is ~200K) whole.
MAX_TRAIN_CHARS = 500_000
MAX_VAL_CHARS = 200_000
FALLBACK_DISCOUNT = 0.5
LN2 = math.log(2)
# Longer than one character, so that h + _UNSEEN is never a counted n-gram: it scores as an unseen character.
_UNSEEN = "<unseen>"
# Validation characters scored between two progress reports and should_stop() checks: about 60 ms at order 10
# (Hamlet, one shared Zen 5 core).
PROGRESS_EVERY = 4096
# Text positions or dict keys counted by one C call (a Counter.update over a map): a thread that wants the GIL
# (the UI's) gets it only between two such calls, after the switch interval (5 ms), so each must be short. 4096
# of the longest pass (the 6-grams) take about 2-3 ms on a shared Zen 4 core; more calls would cost more than
# they save (read at call time: a test makes it tiny).
CHUNK = 4096
# An n-gram's context (all but its last character), its last n-1 characters, and its middle.
_HEAD, _TAIL, _MIDDLE = itemgetter(slice(None, -1)), itemgetter(slice(1, None)), itemgetter(slice(1, -1))


def estimate_discount(counts: Iterable[int]) -> float:
    """D = n1 / (n1 + 2 n2) from a collection of n-gram counts (Chen & Goodman 1998, eq. 26).

    Returns FALLBACK_DISCOUNT (0.5) when no n-gram occurs exactly once, where the formula gives 0.
    """
    counts = counts if isinstance(counts, Collection) else list(counts)  # read twice
    n1, n2 = countOf(counts, 1), countOf(counts, 2)  # C loops: the fit holds the GIL for less
    if n1 == 0:
        return FALLBACK_DISCOUNT
    return n1 / (n1 + 2 * n2)


def _ngrams(text: str, n: int, chunk: int) -> Counter[str]:
    """Every n-gram of text, counted `chunk` positions per C call (see CHUNK)."""
    out: Counter[str] = Counter()
    end = len(text) - n + 1
    for start in range(0, end, chunk):
        stop = min(start + chunk, end)
        out.update(map(text.__getitem__, map(slice, range(start, stop), range(start + n, stop + n))))
    return out


def _chunks(keys: Iterable[str], chunk: int) -> Iterator[list[str]]:
    """`keys` in order, in lists of at most `chunk` (itertools.batched, from Python 3.12)."""
    it = iter(keys)
    while batch := list(islice(it, chunk)):
        yield batch


def _count_mapped(f: Callable[[str], str], keys: Collection[str], chunk: int) -> Counter[str]:
    """Counter(map(f, keys)), `chunk` keys per C call (see CHUNK)."""
    out: Counter[str] = Counter()
    for batch in _chunks(keys, chunk):
        out.update(map(f, batch))
    return out


class _Level:
    """One order's counts in one role: raw (top order) or continuation (lower order).

    counts[hw] is c(hw) or N1+(.hw); total[h] their sum over w (less one when h is `tail`, the text's last
    characters, which nothing follows); types[h] the number of w with a count.
    """

    __slots__ = ("counts", "total", "types", "discount", "tail")

    def __init__(
        self,
        counts: Mapping[str, int],
        total: Mapping[str, int],
        types: Mapping[str, int],
        discount: float,
        tail: str | None = None,
    ) -> None:
        self.counts = counts
        self.total = total
        self.types = types
        self.discount = discount
        self.tail = tail

    def interpolate(self, h: str, w: str, lower: float) -> float:
        total = self.total.get(h)
        if h == self.tail:
            total -= 1
        if not total:
            return lower
        d = self.discount
        c = self.counts.get(h + w, 0)
        return (max(c - d, 0.0) + d * self.types[h] * lower) / total


def _on_keys(tmp: Counter[str], canon: Mapping[str, int], chunk: int) -> dict[str, int]:
    """tmp's counts keyed by canon's string objects: many dicts, one copy of each n-gram string in memory.

    `chunk` of canon's keys per C call (see CHUNK), in canon's order: the dict is the one a single pass makes."""
    out: dict[str, int] = {}
    for keys in _chunks(canon, chunk):
        found = list(map(tmp.get, keys))  # None where canon's key is not in tmp
        out.update(compress(zip(keys, found, strict=True), found))
    return out


class KneserNeyLM:
    """Interpolated Kneser-Ney character models of every order 1..`order`, from one count of `text`.

    `discounts` ({order: D} for some or all orders, each 0 <= D <= 1) replaces the estimated discounts,
    at that order in both roles; {1: 0.0, 2: 0.1, 3: 0.1, ...} reproduces `nltk.lm.KneserNeyInterpolated`
    with discount 0.1 (its unigrams are undiscounted continuation counts) for orders 2 and up.
    Raises CharRNNError for an empty text or an order outside 1..MAX_ORDER.
    """

    def __init__(
        self,
        text: str,
        order: int = MAX_ORDER,
        discounts: Mapping[int, float] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        if not 1 <= order <= MAX_ORDER:
            raise CharRNNError(f"the n-gram order must be 1 to {MAX_ORDER} (got {order})")
        if not text:
            raise CharRNNError("the n-gram baseline needs a non-empty training text")
        discounts = dict(discounts or {})
        for n, d in discounts.items():
            if not 0.0 <= d <= 1.0:
                raise CharRNNError(f"Kneser-Ney discounts must be between 0 and 1 (order {n}: {d})")
        self.order = order
        self.vocab = "".join(sorted(set(text)))
        self.uniform = 1.0 / (len(self.vocab) + 1)
        # raw[n]: c(g) for every n-gram g; raw[0] holds the empty context, followed by every character.
        chunk = CHUNK
        raw: list[Mapping[str, int]] = [{"": len(text)}]
        for n in range(1, order + 1):
            if should_stop is not None and should_stop():
                raise Cancelled
            raw.append(_ngrams(text, n, chunk))
        self.raw: list[_Level | None] = [None]
        self.cont: list[_Level | None] = [None]
        for n in range(1, order + 1):
            if should_stop is not None and should_stop():
                raise Cancelled
            # map(itemgetter(slice)) rather than a generator: the same keys, counted in C loops.
            types = _on_keys(_count_mapped(_HEAD, raw[n], chunk), raw[n - 1], chunk)
            tail = text[len(text) - (n - 1) :] if n > 1 else None
            d = discounts.get(n, estimate_discount(raw[n].values()))
            self.raw.append(_Level(raw[n], raw[n - 1], types, d, tail))
            if n < order:
                # N1+(.hw): the distinct (n+1)-grams xhw, counted by their last n characters; N1+(.h.) by
                # their middle n-1.
                cont = _on_keys(_count_mapped(_TAIL, raw[n + 1], chunk), raw[n], chunk)
                cont_total = _on_keys(_count_mapped(_MIDDLE, raw[n + 1], chunk), raw[n - 1], chunk)
                cont_types = _on_keys(_count_mapped(_HEAD, cont, chunk), raw[n - 1], chunk)
                d = discounts.get(n, estimate_discount(cont.values()))
                self.cont.append(_Level(cont, cont_total, cont_types, d))

    def prob(self, char: str, context: str = "", order: int | None = None) -> float:
        """p(char | the last order-1 characters of context) under the model of `order` (default: all).

        A character outside the vocabulary gets the probability of the one "unseen" symbol.
        """
        return self._chain(context, char, order or self.order)[-1]

    def unseen_prob(self, context: str = "", order: int | None = None) -> float:
        """The probability of the "unseen" symbol: any character the training text did not have."""
        return self._chain(context, _UNSEEN, order or self.order)[-1]

    def distribution(self, context: str = "", order: int | None = None) -> dict[str, float]:
        """p(w | context) for every w in the vocabulary; together with `unseen_prob` they sum to 1."""
        return {w: self.prob(w, context, order) for w in self.vocab}

    def _chain(self, context: str, w: str, order: int) -> list[float]:
        """[p_0, p_1, ..., p_top]: the continuation-count orders below the top one, then the top one."""
        if not 1 <= order <= self.order:
            raise CharRNNError(f"this model has orders 1 to {self.order} (asked for {order})")
        top = min(order, len(context) + 1)
        p = self.uniform
        out = [p]
        for k in range(1, top):
            p = self.cont[k].interpolate(context[len(context) - (k - 1) :], w, p)
            out.append(p)
        out.append(self.raw[top].interpolate(context[len(context) - (top - 1) :], w, p))
        return out

    def cross_entropy(
        self,
        text: str,
        should_stop: Callable[[], bool] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[int, float]:
        """Mean -ln p (nats/char) of text[1:], each character given the text before it, for every order.

        Returns {order: nats/char} for orders 1..self.order. progress(done, total) is called with the
        characters scored so far every PROGRESS_EVERY of them and at the end (total = len(text) - 1);
        should_stop() is asked as often. Raises CharRNNError if text has under 2 chars, Cancelled when
        should_stop() returns True.
        """
        if len(text) < 2:
            raise CharRNNError("the n-gram baseline needs a validation text of at least 2 characters")
        n_orders = self.order
        sums = [0.0] * (n_orders + 1)
        raw, cont, log = self.raw, self.cont, math.log
        for i in range(1, len(text)):
            if i % PROGRESS_EVERY == 0:
                if should_stop is not None and should_stop():
                    raise Cancelled
                if progress is not None:
                    progress(i - 1, len(text) - 1)
            w = text[i]
            h = text[max(0, i - (n_orders - 1)) : i]
            lh = len(h)
            # The continuation chain is shared by every order's model: compute it once per character.
            chain = [self.uniform]
            p = self.uniform
            for k in range(1, min(n_orders - 1, lh) + 1):
                p = cont[k].interpolate(h[lh - (k - 1) :], w, p)
                chain.append(p)
            for m in range(1, n_orders + 1):
                top = min(m, lh + 1)
                sums[m] -= log(raw[top].interpolate(h[lh - (top - 1) :], w, chain[top - 1]))
        n = len(text) - 1
        if progress is not None:
            progress(n, n)
        return {m: sums[m] / n for m in range(1, n_orders + 1)}


@dataclass(frozen=True)
class BaselineResult:
    """The baseline table. `losses` maps order -> nats/char on the validation text used."""

    losses: dict[int, float]
    train_chars: int  # training characters counted
    train_total: int  # training characters available (more than train_chars when capped)
    val_chars: int  # validation characters used (val_chars - 1 are predicted)
    val_total: int
    vocab_size: int  # distinct training characters
    unseen_val: int  # validation characters (occurrences) the training text never had
    seconds: float

    @property
    def capped(self) -> bool:
        return self.train_chars < self.train_total or self.val_chars < self.val_total

    @property
    def best_order(self) -> int:
        return min(self.losses, key=self.losses.__getitem__)

    @property
    def best_loss(self) -> float:
        """nats/char of the best order."""
        return self.losses[self.best_order]

    def cap_note(self) -> str | None:
        """A sentence for the user when the cap applied, else None."""
        if not self.capped:
            return None
        return (
            f"n-gram baseline on the first {self.train_chars:,} of {self.train_total:,} training and "
            f"{self.val_chars:,} of {self.val_total:,} validation characters (capped to stay quick)"
        )


def markov_baseline(
    train: str,
    val: str,
    max_order: int = MAX_ORDER,
    max_train_chars: int | None = None,
    max_val_chars: int | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BaselineResult:
    """Kneser-Ney models of orders 1..max_order trained on `train`, scored on `val` (see the module doc).

    Uses at most the first `max_train_chars` of train and `max_val_chars` of val (default MAX_TRAIN_CHARS and
    MAX_VAL_CHARS, read at call time); the result says when that cut anything. Counting comes first (about
    three quarters of the time for Hamlet), then the scoring, which calls progress(done, total) with the
    validation characters scored so far (`KneserNeyLM.cross_entropy`), from 0 once the counts are made up to total.
    Raises CharRNNError when either text is too short, Cancelled when should_stop() returns True.
    """
    t0 = time.perf_counter()
    if len(val) < 2:
        raise CharRNNError(
            "the validation split is too short for a baseline (under 2 characters); use a longer text "
            "or a larger --val-fraction"
        )
    train_used = train[: MAX_TRAIN_CHARS if max_train_chars is None else max_train_chars]
    val_used = val[: MAX_VAL_CHARS if max_val_chars is None else max_val_chars]
    lm = KneserNeyLM(train_used, max_order, should_stop=should_stop)
    if progress is not None:
        progress(0, len(val_used) - 1)
    losses = lm.cross_entropy(val_used, should_stop, progress)
    known = set(lm.vocab)
    result = BaselineResult(
        losses=losses,
        train_chars=len(train_used),
        train_total=len(train),
        val_chars=len(val_used),
        val_total=len(val),
        vocab_size=len(lm.vocab),
        unseen_val=sum(1 for c in val_used[1:] if c not in known),
        seconds=time.perf_counter() - t0,
    )
    _dismantle(lm)
    return result


def _dismantle(lm: KneserNeyLM) -> None:
    """Free the model's dicts one per loop turn, where another thread can take the GIL: dropped at once on return,
    Hamlet's counts (orders 1-10) freed in one C call chain that held it for 12-28 ms; the largest dict takes ~3."""
    dicts = [d for level in lm.raw + lm.cont if level is not None for d in (level.counts, level.total, level.types)]
    lm.raw, lm.cont = [], []
    while dicts:
        dicts.pop()  # frees a dict when this was its last reference (raw counts are also the next order's totals)


def corpus_baseline(
    corpus: Corpus,
    val_fraction: float = 0.1,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
    **kwargs,
) -> BaselineResult:
    """`markov_baseline` on the trainer's split of the corpus (Corpus.split): the same validation characters.

    should_stop and progress as markov_baseline takes them."""
    if not 0.0 < val_fraction < 1.0:
        raise CharRNNError(f"--val-fraction must be between 0 and 1 (got {val_fraction})")
    train, val = corpus.split(val_fraction)
    if not train:
        raise CharRNNError("the training split is empty; use a smaller --val-fraction")
    return markov_baseline(train, val, should_stop=should_stop, progress=progress, **kwargs)
