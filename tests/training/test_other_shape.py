"""A checkpoint of another model's shape, on --resume and on generation: a file whose settings were edited, whose
training state belongs to another model or batch, or that was copied in from another run is refused in one line
that says what differs and what to do, never PyTorch's own words from inside a step; and nothing is written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.edit_checkpoint import edit_checkpoint

from charrnn_tui.core.config import TINY as TINY_CONFIG
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.core.events import Finished
from charrnn_tui.model import checkpoint
from charrnn_tui.text.corpus import load_corpus
from charrnn_tui.training.trainer import Trainer

TINY = ["--preset", "tiny", "--device", "cpu", "--eval-interval", "10", "--log-interval", "5"]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "charrnn_tui", *args], capture_output=True, text=True, env=env, timeout=120
    )


def trained(env: dict[str, str], corpus: Path, run: Path, *flags: str) -> Path:
    """A real 20-step tiny run in `run`, trained in this process (what --train-only would write, without a second
    interpreter's start-up: the refusals, not the training, are what the CLI is run for)."""
    pairs = zip(flags[::2], flags[1::2], strict=True)
    overrides = {FLAGS[flag]: type(getattr(TINY_CONFIG, FLAGS[flag]))(value) for flag, value in pairs}
    cfg = TINY_CONFIG.with_overrides(device="cpu", eval_interval=10, log_interval=5, steps=20, **overrides)
    assert isinstance(Trainer(load_corpus(str(corpus)), cfg, run).run(), Finished)
    return run


FLAGS = {"--batch-size": "batch_size", "--sampling": "sampling", "--hidden": "hidden"}


def refused(done: subprocess.CompletedProcess, *words: str) -> str:
    """The one line a refused command printed, checked to hold `words` and no internal error."""
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("charrnn-tui: error: "), done.stderr
    for bad in ("Traceback", "RuntimeError", "training failed", "KeyError"):
        assert bad not in lines[0], lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def resume(env: dict[str, str], run: Path) -> subprocess.CompletedProcess:
    return cli(env, "--train-only", "--resume", "--run-dir", str(run), "--steps", "40")


def test_a_checkpoint_whose_batch_was_edited_is_refused_on_resume_and_still_generates(
    cli_environ, small_text_file: Path, tmp_path: Path
) -> None:
    # The issue's case: settings of batch 16 beside the carried state of batch 8 ended in "training failed:
    # RuntimeError: Expected hidden[0] size (1, 16, 64), got [1, 8, 64]".
    run = trained(cli_environ, small_text_file, tmp_path / "run", "--batch-size", "8", "--sampling", "tbptt")
    before = edit_checkpoint(run, lambda c: c["config"].update(batch_size=16))
    line = refused(resume(cli_environ, run), "cannot be resumed", "1x8x64", "batch 16", "need 1x16x64",
                   "--generate-only")  # fmt: skip
    assert str(run) in line
    assert (run / "checkpoint.pt").read_bytes() == before  # nothing written
    made = cli(cli_environ, "--generate-only", "--run-dir", str(run), "--length", "20", "--seed", "1")
    assert made.returncode == 0, made.stderr  # its weights fit its settings: it still writes text


def test_a_checkpoint_copied_from_another_run_is_refused_naming_what_differs(
    cli_environ, small_text_file: Path, tmp_path: Path
) -> None:
    ours = trained(cli_environ, small_text_file, tmp_path / "ours", "--hidden", "32", "--batch-size", "16")
    other = trained(cli_environ, small_text_file, tmp_path / "other", "--batch-size", "8")
    config_before = (ours / "config.json").read_bytes()
    (ours / "checkpoint.pt").write_bytes((other / "checkpoint.pt").read_bytes())
    refused(resume(cli_environ, ours), "another model than the run recorded", "hidden 64 in checkpoint.pt, 32 in "
            "config.json", "batch_size 8 in checkpoint.pt, 16 in config.json", "copied from another run")  # fmt: skip
    assert (ours / "config.json").read_bytes() == config_before  # the run's record is not taken over
    assert (ours / "checkpoint.pt").read_bytes() == (other / "checkpoint.pt").read_bytes()


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("hidden", 128, ("rnn.weight_ih_l0 (256x", "where they need 512x", "lstm 1x128")),
        ("n_layers", 2, ("rnn.weight_ih_l1 (missing), rnn.weight_hh_l1 (missing)", "lstm 2x64")),
        ("cell", "gru", ("rnn.weight_ih_l0 (256x", "where they need 192x", "gru 1x64")),
    ],
)
def test_settings_of_another_model_than_the_weights_are_refused_on_resume_and_generation(
    cli_environ, small_text_file: Path, tmp_path: Path, field: str, value, words: tuple[str, ...]
) -> None:
    run = trained(cli_environ, small_text_file, tmp_path / "run")
    before = edit_checkpoint(run, lambda c: c["config"].update({field: value}))
    for done in (resume(cli_environ, run), cli(cli_environ, "--generate-only", "--run-dir", str(run))):
        refused(done, "does not match its own settings", *words, "use the run's own checkpoint")
    with pytest.raises(CharRNNError, match="does not match its own settings"):
        checkpoint.load_model(run)  # what the app loads a saved run with
    assert (run / "checkpoint.pt").read_bytes() == before


def test_an_optimizer_state_of_another_model_is_refused_on_resume(
    cli_environ, small_text_file: Path, tmp_path: Path
) -> None:
    run = trained(cli_environ, small_text_file, tmp_path / "run")
    other = trained(cli_environ, small_text_file, tmp_path / "other", "--hidden", "32")
    theirs = torch.load(other / "checkpoint.pt", weights_only=True)["optimizer"]
    edit_checkpoint(run, lambda c: c.update(optimizer=theirs))
    refused(resume(cli_environ, run), "cannot be resumed", "optimizer state that does not fit its weights")


def test_an_optimizer_state_holding_infinity_is_refused_before_training_on_it(
    cli_environ, small_text_file: Path, tmp_path: Path
) -> None:
    # Before, the resumed run took a step on it and reported "the loss became nan ...: training diverged".
    run = trained(cli_environ, small_text_file, tmp_path / "run")
    edit_checkpoint(run, lambda c: c["optimizer"]["state"][0]["exp_avg"].view(-1)[0].fill_(float("inf")))
    refused(resume(cli_environ, run), "cannot be resumed", "optimizer state with NaN or infinite values")


def test_a_carried_state_of_another_layer_count_is_refused_not_dropped(
    cli_environ, small_text_file: Path, tmp_path: Path
) -> None:
    run = trained(cli_environ, small_text_file, tmp_path / "run", "--sampling", "tbptt", "--batch-size", "8")
    edit_checkpoint(run, lambda c: c.update(carry=[torch.cat([t, t]) for t in c["carry"]]))
    refused(resume(cli_environ, run), "cannot be resumed", "2x8x64", "need 1x8x64")
