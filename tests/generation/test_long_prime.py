"""A prime of any length: read in chunks with the state carried (the same state as one pass), in memory that
does not grow with it, stoppable between chunks, and refused whole when it holds a character never seen."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.generation.generator import FEED_CHUNK, Generator
from charrnn_tui.model.charrnn import CharRNN
from charrnn_tui.text.corpus import load_builtin
from charrnn_tui.text.vocab import Vocab

HAMLET = load_builtin("hamlet").text
VOCAB = Vocab.from_text(HAMLET)


def model(cell: str = "lstm", seed: int = 0) -> CharRNN:
    torch.manual_seed(seed)
    return CharRNN(len(VOCAB), cell, 2, 32, 8).eval()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("rows", [1, 3])
def test_a_prime_longer_than_a_chunk_leaves_the_state_of_one_pass(cell: str, rows: int) -> None:
    net = model(cell)
    prime = HAMLET[: 3 * FEED_CHUNK + 7]  # three whole chunks, then a few characters stepped
    with torch.no_grad():
        logits, state = net(torch.tensor([VOCAB.encode(prime)]))
    gen = Generator(net, VOCAB, rows=rows)
    assert gen.feed(prime)
    torch.testing.assert_close(gen.logits[:1], logits[:, -1], rtol=1e-4, atol=1e-5)
    parts = state if isinstance(state, tuple) else (state,)
    got = gen.state if isinstance(gen.state, tuple) else (gen.state,)
    for a, b in zip(got, parts, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert gen.texts == [prime[-gen.keep_text :]] * rows
    assert len(next(gen.sample_rows(1, [0.0] * rows))) == rows


def test_a_long_prime_can_be_stopped_and_leaves_nothing_to_continue() -> None:
    gen = Generator(model(), VOCAB)
    asked = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) >= 2

    assert not gen.feed(HAMLET[: 5 * FEED_CHUNK], stop)
    assert len(asked) == 2 and gen.logits is None and gen.state is None and gen.text == ""
    with pytest.raises(ValueError, match="feed a prime"):
        next(gen.sample(1))


def test_an_unseen_character_anywhere_in_a_long_prime_is_refused_before_any_is_read() -> None:
    gen = Generator(model(), VOCAB)
    gen.feed("HAMLET")
    before = gen.logits.clone()
    with pytest.raises(CharRNNError, match="never saw"):
        gen.feed(HAMLET[: 4 * FEED_CHUNK] + "Ж")
    assert torch.equal(gen.logits, before)


# In a fresh process: the peak memory that feeding a prime of argv[1] characters adds, with the default preset's
# shape (2x256 LSTM, embed 64). Before chunking, 100,000 characters added ~720 MB (~7 kB a character), so 30,000
# would add ~210 MB against the bound's ~35 MB. One thread: beside another test on 2 cores, two spinning OpenMP
# threads made this 40 s instead of 6.
FEED_MEMORY = """
import json, resource, sys, torch
torch.set_num_threads(1)
from charrnn_tui.generation.generator import Generator
from charrnn_tui.model.charrnn import CharRNN
from charrnn_tui.text.corpus import load_builtin
from charrnn_tui.text.vocab import Vocab
text = load_builtin("hamlet").text
vocab = Vocab.from_text(text)
torch.manual_seed(0)
gen = Generator(CharRNN(len(vocab), "lstm", 2, 256, 64).eval(), vocab)
prime = (text * 4)[: int(sys.argv[1])]
gen.feed(prime[:5000])  # torch's own first-call allocations, before the measure
gen.reset()
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
before = peak()
gen.feed(prime)
print(json.dumps({"added": peak() - before, "chars": len(prime)}))
"""


def test_the_memory_a_prime_takes_does_not_grow_with_its_length() -> None:
    done = subprocess.run(
        [sys.executable, "-c", FEED_MEMORY, "30000"], capture_output=True, text=True, timeout=300, check=True
    )
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["added"] < 100 * out["chars"] + (32 << 20), out  # a few bytes per character, not kilobytes
