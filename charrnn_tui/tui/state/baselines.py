"""The Markov baseline as the app uses it: computed once per corpus and split, off the UI thread, shared.

The app owns one BaselineCache (`CharRNNApp.baselines`) and its screens hand it to their widgets: the corpus
screen's line starts the computation when a corpus is chosen; the training screen's loss plot reads it (or
waits for the same computation, rather than running a second one). Results are small; the last few are kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from charrnn_tui.scoring.baseline import LN2, BaselineResult, corpus_baseline
from charrnn_tui.text.corpus import Corpus

KEEP = 8

Key = tuple[str, str, int, float]


def key_of(corpus: Corpus, val_fraction: float) -> Key:
    # Name, source and length tell corpora apart without hashing a text that may be 100 MB.
    return (corpus.name, corpus.source, len(corpus.text), round(val_fraction, 9))


class BaselineCache:
    """Thread-safe: `compute` runs at most one computation per key at a time; others wait for its result."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._results: OrderedDict[Key, BaselineResult] = OrderedDict()
        self._running: dict[Key, threading.Lock] = {}

    def get(self, corpus: Corpus, val_fraction: float) -> BaselineResult | None:
        """The result if it is already known; never blocks on a computation."""
        with self._lock:
            return self._results.get(key_of(corpus, val_fraction))

    def compute(
        self,
        corpus: Corpus,
        val_fraction: float,
        should_stop: Callable[[], bool] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> BaselineResult:
        """The result, computing it in the calling thread if nobody has (call from a worker).

        progress(done, total) reports the validation characters scored (`markov_baseline`), only to the caller
        that computes: one that waits for another's computation hears nothing until it ends.
        Raises what `corpus_baseline` raises: CharRNNError for an unusable split, Cancelled on should_stop().
        """
        key = key_of(corpus, val_fraction)
        with self._lock:
            if key in self._results:
                return self._results[key]
            running = self._running.setdefault(key, threading.Lock())
        with running:
            with self._lock:
                if key in self._results:
                    return self._results[key]
            result = corpus_baseline(corpus, val_fraction, should_stop=should_stop, progress=progress)
            with self._lock:
                self._results[key] = result
                while len(self._results) > KEEP:
                    self._results.popitem(last=False)
                self._running.pop(key, None)
            return result


def describe(result: BaselineResult) -> str:
    """One line: the best order and its loss, e.g. "5-gram Kneser-Ney: 1.579 nats/char (2.28 bits)"."""
    loss = result.best_loss
    capped = " (on a capped sample)" if result.capped else ""
    return f"{result.best_order}-gram Kneser-Ney: {loss:.3f} nats/char ({loss / LN2:.2f} bits){capped}"
