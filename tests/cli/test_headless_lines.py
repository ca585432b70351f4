"""The headless front end's lines, as pure functions: the start line, a progress line, the next steps after a
run, --stats, and the signal handling around a training."""

from __future__ import annotations

import io
import os
import signal

import pytest

from charrnn_tui.core.config import TINY
from charrnn_tui.core.events import CheckpointSaved, Finished, Logged, Notice, Started, Step
from charrnn_tui.headless.generate import stats_line
from charrnn_tui.headless.progress import ProgressPrinter, budget_text, logged_line, started_line, started_lines
from charrnn_tui.headless.train import next_steps_lines, signal_exit_code, stop_on_signals


def started(**changes) -> Started:
    config = {**TINY.to_dict(), "steps": 200, "max_seconds": 0.0, **changes.pop("config", {})}
    fields = dict(
        step=0,
        config=config,
        corpus_name="hamlet",
        run_dir=None,
        device="cuda",
        n_params=12345,
        vocab_size=65,
        train_chars=90000,
        val_chars=10000,
    )
    return Started(**{**fields, **changes})


def test_the_start_line_names_the_model_the_corpus_and_the_budget() -> None:
    cfg = started().config
    line = started_line(started())
    assert line == (
        f"training {cfg['cell'].upper()} {cfg['n_layers']}x{cfg['hidden']} (12,345 parameters) on hamlet: "
        "90,000 train / 10,000 val chars, vocabulary 65, device cuda, budget 200 steps"
    )


def test_the_start_line_of_a_resumed_run_on_ranks() -> None:
    ev = started(resumed=True, world_size=2, step=40, run_dir="/tmp/run", config={"batch_size": 8})
    lines = started_lines(ev)
    assert lines[0].startswith("resuming ")
    assert "device cuda x2 ranks (batch 8 x 2 = 16 sequences a step), budget" in lines[0]
    assert lines[1:] == ["run folder: /tmp/run", "continuing from step 40"]


def test_the_budget_in_words() -> None:
    assert budget_text({"steps": 500, "max_seconds": 60.0}) == "500 steps or 60 s"
    assert budget_text({"steps": 0, "max_seconds": 1.5}) == "1.5 s"
    assert budget_text({"steps": 0, "max_seconds": 0}) == "none (Ctrl+C to stop)"


def test_a_progress_line() -> None:
    row = {"step": 40, "train_loss": 2.5, "chars_per_s": 12345.6, "elapsed_s": 75}
    assert logged_line(row, None, None, 200) == (
        "step     40/200  loss 2.500  val   -       12,346 chars/s  elapsed 1:15  ETA ?"
    )
    assert logged_line({**row, "val_loss": 2.25}, 2.25, 3700, 0) == (
        "step     40  loss 2.500  val 2.250     12,346 chars/s  elapsed 1:15  ETA 1:01:40"
    )


def test_the_printer_keeps_the_latest_evaluation_and_eta() -> None:
    out = io.StringIO()
    printer = ProgressPrinter(out)
    printer(started())
    printer(Step(10, 2.5, 1e-3, 1000.0, 5.0, 65.0, 0.05))
    printer(Logged({"step": 10, "val_loss": 2.0, "chars_per_s": 1000.0, "elapsed_s": 5.0}))
    printer(Logged({"step": 20, "train_loss": 1.9, "chars_per_s": 1000.0, "elapsed_s": 10.0}))
    printer(CheckpointSaved(20, "/tmp/run/ckpt.pt", "eval"))  # not shown: only requested or recovered saves are
    printer(CheckpointSaved(20, "/tmp/run/ckpt.pt", "request"))
    lines = out.getvalue().splitlines()
    assert lines[1] == "step     10/200  val 2.000      1,000 chars/s  elapsed 0:05  ETA 1:05"
    assert lines[2] == "step     20/200  loss 1.900  val 2.000      1,000 chars/s  elapsed 0:10  ETA 1:05"
    assert lines[3:] == ["checkpoint saved at step 20: /tmp/run/ckpt.pt"]


def test_notices_go_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    ProgressPrinter(out)(Notice(3, "the corpus changed"))
    assert out.getvalue() == ""
    assert capsys.readouterr().err == "note: the corpus changed\n"


def finished(checkpoint: str | None = "/r/checkpoint.pt") -> Finished:
    return Finished(100, "steps", 12.0, None, None, "/r", checkpoint)


def test_the_next_steps_after_a_run() -> None:
    lines = next_steps_lines(finished(), "/r", interrupted=False)
    assert lines[0].startswith("done (step budget reached) at step 100 after 0:12 (12.0 s): checkpoint")
    assert lines[1:] == [
        "generate with: charrnn-tui --generate-only --run-dir /r",
        "train further with: charrnn-tui --train-only --resume --run-dir /r",
    ]
    assert next_steps_lines(finished(), "/r", interrupted=True)[1:] == [
        "resume with: charrnn-tui --train-only --resume --run-dir /r"
    ]
    assert next_steps_lines(finished(None), "/r", interrupted=False)[1:] == []


def test_the_exit_status_of_a_signal() -> None:
    assert signal_exit_code(signal.SIGINT) == 130
    assert signal_exit_code(signal.SIGTERM) == 143


def test_stats() -> None:
    assert stats_line(500, 0.25, 1) == "generated 500 chars in 0.25 s (2000 chars/s)"
    assert stats_line(600, 0.0, 3) == "generated 600 chars (3 samples of 200) in 0.00 s (inf chars/s)"


class FakeTrainer:
    def __init__(self) -> None:
        self.stops = 0
        self.control = self

    def stop(self) -> None:
        self.stops += 1


def test_a_signal_stops_the_trainer_a_second_interrupts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    trainer = FakeTrainer()
    with pytest.raises(KeyboardInterrupt), stop_on_signals(trainer, ProgressPrinter(io.StringIO()), True) as got:
        os.kill(os.getpid(), signal.SIGTERM)
        assert trainer.stops == 1 and got == [signal.SIGTERM]
        os.kill(os.getpid(), signal.SIGINT)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    assert capsys.readouterr().err == "\nSIGTERM: stopping after this step and saving a checkpoint...\n"
