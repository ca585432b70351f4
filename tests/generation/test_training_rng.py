"""Generation beside a training run leaves its random numbers alone (issue 27: the same seed gives the same run
bit for bit). The trainer's dropout draws from torch's global generator; generating text, or loading a saved
run to generate from, while it trains must draw from generators of their own.

Each case trains the same tiny run twice in this process, the second time with generation done between its steps
from another thread (started and joined in the step's event, so the order of the draws is the same every time):
the weights and the losses must come out bit for bit the same.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from charrnn_tui.core.config import TINY, TrainConfig
from charrnn_tui.core.events import Event, Finished, Logged, Step
from charrnn_tui.generation.generator import Generator
from charrnn_tui.model import checkpoint
from charrnn_tui.model.charrnn import CharRNN
from charrnn_tui.text.corpus import Corpus
from charrnn_tui.text.vocab import Vocab
from charrnn_tui.training.trainer import Trainer

# Dropout on: each step draws its masks from the global generator, so one draw taken from it between two steps
# changes every step after.
CONFIG = TINY.with_overrides(
    device="cpu", hidden=32, embed=8, dropout=0.3, steps=8, eval_interval=4, log_interval=1, checkpoint_seconds=0
)


@pytest.fixture(autouse=True)
def one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # A pinned thread count: the trainer does not try another mid-run, whose sums could round otherwise.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def train(corpus: Corpus, meanwhile: Callable[[], object] | None = None, config: TrainConfig = CONFIG):
    """The run's final trained weights and its logged losses; `meanwhile` runs in another thread after every step."""
    rows: list[dict] = []

    def on_event(event: Event) -> None:
        if isinstance(event, Logged):
            rows.append(event.row)
        if isinstance(event, Step) and meanwhile is not None:
            worker = threading.Thread(target=meanwhile)
            worker.start()
            worker.join()

    trainer = Trainer(corpus, config, on_event=on_event)
    result = trainer.run()
    assert isinstance(result, Finished), result
    model, _ = trainer.snapshot()
    return {k: v.clone() for k, v in model.state_dict().items()}, [(r["train_loss"], r.get("val_loss")) for r in rows]


def same(a, b) -> bool:
    (wa, la), (wb, lb) = a, b
    return la == lb and wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def a_generator(corpus: Corpus) -> Generator:
    vocab = Vocab.from_text(corpus.text)
    gen = Generator(CharRNN.from_config(len(vocab), CONFIG), vocab, top_n=0)
    gen.feed("To be")
    return gen


def test_sampling_without_a_seed_while_a_run_trains_leaves_the_run_as_it_was(small_corpus: Corpus) -> None:
    gen = a_generator(small_corpus)  # made before both runs: its own start draws nothing during them
    alone = train(small_corpus)
    assert same(alone, train(small_corpus)), "the run is not reproducible even alone"
    # temperature 1, no seed (the app's default): each character a random draw
    beside = train(small_corpus, lambda: list(gen.sample(20, temperature=1.0)))
    assert same(alone, beside), "sampling during training changed the training run"


def test_sampling_several_rows_without_seeds_leaves_the_run_as_it_was(small_corpus: Corpus) -> None:
    gen = a_generator(small_corpus)
    gen.reset(rows=3)
    gen.feed("To be")
    alone = train(small_corpus)
    beside = train(small_corpus, lambda: list(gen.sample_rows(10, [1.0, 0.7, 0.0])))
    assert same(alone, beside), "sampling several rows during training changed the training run"


def test_loading_a_saved_run_to_generate_from_while_a_run_trains_leaves_the_run_as_it_was(
    small_corpus: Corpus, tmp_path: Path
) -> None:
    saved = tmp_path / "saved"
    assert isinstance(Trainer(small_corpus, CONFIG.with_overrides(steps=2, eval_interval=2), saved).run(), Finished)
    alone = train(small_corpus)
    beside = train(small_corpus, lambda: checkpoint.load_model(saved))
    assert same(alone, beside), "loading a model during training changed the training run"


def test_two_unseeded_samples_differ_and_a_seed_repeats(small_corpus: Corpus) -> None:
    gen = a_generator(small_corpus)

    def text(seed: int | None) -> str:
        gen.reset()
        gen.feed("To be")
        return "".join(t.char for t in gen.sample(40, temperature=1.5, seed=seed))

    assert text(7) == text(7)
    assert text(None) != text(None)  # each unseeded sample draws its own seed from the system's entropy
