"""`--generate-only --weights best|last`: a run stopped past its best evaluation generates with its last weights
unless told otherwise, and with its best ones under --weights best, in real subprocesses."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from helpers.past_best import train_past_best

from charrnn_tui.cli import build_parser, to_request
from charrnn_tui.core.config import TINY
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.core.requests import GenerateRequest
from charrnn_tui.generation.generator import Generator
from charrnn_tui.headless.generate import generate
from charrnn_tui.model.checkpoint import load_model, weights_of
from charrnn_tui.text.corpus import Corpus, load_builtin
from charrnn_tui.training.trainer import Trainer

PRIME, LENGTH = "HAMLET", 80


def argmax_text(run_dir: Path, which: str) -> str:
    """What `which` weights of the run write after PRIME at temperature 0, in this process."""
    model, vocab, ckpt = load_model(run_dir / "checkpoint.pt")
    model.load_state_dict(weights_of(ckpt, which)[0])
    gen = Generator(model, vocab, top_n=0)
    gen.feed(PRIME)
    return PRIME + "".join(step[0].char for step in gen.sample_rows(LENGTH, [0.0], 0, [None])) + "\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A run stopped past its best (keep_best on), and one trained without keep_best."""
    home = tmp_path_factory.mktemp("weights")
    past, plain = home / "past-best", home / "plain"
    train_past_best(past)
    cfg = TINY.with_overrides(device="cpu", hidden=16, embed=8, steps=4, eval_interval=2, checkpoint_seconds=0)
    Trainer(Corpus("head", load_builtin("hamlet").text[:3000], "built-in"), cfg, plain).run()
    return past, plain


def test_weights_best_chooses_the_best_evaluations_weights(run_cli_together, runs) -> None:
    past, _ = runs
    base = ("--generate-only", "--run-dir", str(past), "--prime", PRIME, "--length", str(LENGTH), "--temperature", "0")
    default, best = run_cli_together(base, (*base, "--weights", "best"))
    assert default.returncode == 0 and best.returncode == 0, default.stderr + best.stderr
    assert default.stdout == argmax_text(past, "last")  # the run ended on its last weights, as before the flag
    assert best.stdout == argmax_text(past, "best") != default.stdout


def test_weights_last_and_a_run_without_best_weights(runs, capsys) -> None:
    # In this process: the flag's parsing is the test above's; here what the request does with each choice.
    past, plain = runs
    request = GenerateRequest(past, PRIME, LENGTH, 0.0, weights="last")
    assert generate(request) == 0
    assert capsys.readouterr().out == argmax_text(past, "last")
    with pytest.raises(CharRNNError) as refused:
        generate(replace(request, run_dir=plain, weights="best"))
    assert str(refused.value) == (
        "--weights best: this run holds no best weights (it was trained without --keep-best); "
        "leave --weights out, or give --weights last"
    )
    assert capsys.readouterr().out == ""  # refused before a character is written


def test_an_unknown_weights_choice_is_refused_by_the_parser() -> None:
    with pytest.raises(SystemExit) as done:
        to_request(build_parser().parse_args(["--generate-only", "--run-dir", "x", "--weights", "newest"]))
    assert done.value.code == 2
