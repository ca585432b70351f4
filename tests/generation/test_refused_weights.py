"""Weights that hold NaN or infinity are refused by generation in one line: from a checkpoint (--generate-only and
load_model, which the app loads saved runs with), and as live weights handed to a Generator (the app's copy of a
training run's weights), at its start or after they changed in place."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.edit_checkpoint import edit_checkpoint

from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.generation.generator import Generator
from charrnn_tui.model import checkpoint
from charrnn_tui.text.corpus import Corpus
from charrnn_tui.training.trainer import Trainer

TINY = ["--preset", "tiny", "--device", "cpu", "--eval-interval", "10", "--log-interval", "5"]


def generate(env: dict[str, str], run: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "charrnn_tui", "--generate-only", "--run-dir", str(run), "--length", "50"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


@pytest.fixture
def run(cli_environ, small_text_file: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "charrnn_tui", "--train-only", "--corpus", str(small_text_file), *TINY, "--steps", "20",
         "--run-dir", str(run)],
        capture_output=True, text=True, env=cli_environ, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return run


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_checkpoint_whose_weights_hold_nan_or_infinity_is_refused_in_one_line(cli_environ, run: Path, value) -> None:
    edit_checkpoint(run, lambda c: c["model"]["rnn.weight_hh_l0"].view(-1)[7].fill_(value))
    done = generate(cli_environ, run)
    assert done.returncode == 1 and not done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "weights hold NaN or infinite values" in lines[0], done.stderr
    with pytest.raises(CharRNNError, match="weights hold NaN or infinite values"):
        checkpoint.load_model(run)


def test_best_weights_holding_nan_are_refused_where_the_run_ends_on_them(cli_environ, run: Path) -> None:
    def poison_best(c: dict) -> None:
        c["best_weights"] = {k: v.clone() for k, v in c["model"].items()}
        c["best_weights"]["head.bias"].fill_(float("nan"))
        c["best_step"], c["kept_step"] = c["step"], c["step"]

    edit_checkpoint(run, poison_best)
    done = generate(cli_environ, run)
    assert done.returncode == 1 and "weights hold NaN or infinite values" in done.stderr


def live_weights(small_corpus: Corpus, tiny) -> tuple[torch.nn.Module, object]:
    trainer = Trainer(small_corpus, tiny(steps=5))
    assert type(trainer.run()).__name__ == "Finished"
    return trainer.snapshot()


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_live_weights_holding_nan_or_infinity_are_refused_by_the_generator(small_corpus: Corpus, tiny, value) -> None:
    model, vocab = live_weights(small_corpus, tiny)
    with torch.no_grad():
        model.head.weight[3, 5] = value
    with pytest.raises(CharRNNError, match=r"NaN or infinite values \(their training diverged\)"):
        Generator(model, vocab)


def test_weights_that_turn_nan_in_place_are_refused_at_the_next_sample(small_corpus: Corpus, tiny) -> None:
    model, vocab = live_weights(small_corpus, tiny)
    gen = Generator(model, vocab, top_n=0)
    gen.feed("the ")
    assert len(list(gen.sample(5, temperature=0.0))) == 5
    with torch.no_grad():  # as the app's live copy changes when training updates it
        model.rnn.weight_hh_l0.fill_(float("nan"))
    with pytest.raises(CharRNNError, match="NaN or infinite"):
        list(gen.sample(5, temperature=0.0))
