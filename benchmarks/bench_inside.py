"""How long "look inside" takes to score a text: `inside.inspection.surprise` on the default preset's shape.

The reported case: the surprise view over Hamlet's validation split (17,635 characters) with a 3-layer LSTM
of 512 (the default preset, one-hot inputs) took about 75 s, read as one stream at batch 1. This times
surprise() on an untrained model of that shape (fixed seed: the figure does not depend on training) and prints
its mean loss, so that two versions of the code can be compared on the same numbers (median of `--repeats`).

    flock /tmp/charrnn-cpu.lock .venv/bin/python benchmarks/bench_inside.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from charrnn_tui.inside.inspection import surprise
from charrnn_tui.model.charrnn import CharRNN
from charrnn_tui.text.corpus import load_builtin
from charrnn_tui.text.vocab import Vocab


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--chars", type=int, default=0, help="score only the first CHARS characters (0: all)")
    args = parser.parse_args()
    corpus = load_builtin("hamlet")
    _, val = corpus.split(0.1)
    text = val[: args.chars] if args.chars else val
    vocab = Vocab.from_text(corpus.text)
    torch.manual_seed(0)
    model = CharRNN(len(vocab), "lstm", 3, 512, 0).eval()
    times, result = [], None
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        result = surprise(model, vocab, text)
        times.append(time.perf_counter() - t0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; CharRNN lstm 3x512 one-hot, V={len(vocab)}")
    print(f"{len(text):,} characters: {statistics.median(times):.2f} s (median of {len(times)}; all {times})")
    print(f"mean {result.mean_nats:.7f} nats/char, sum {result.sum_bits:.3f} bits")


if __name__ == "__main__":
    main()
