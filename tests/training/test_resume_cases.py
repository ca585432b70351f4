"""Runs that always come back: each case a user met when resuming or sharing a run folder, as a real CLI
subprocess (or a real training where the CLI adds nothing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from charrnn_tui.core.config import TINY as TINY_CONFIG
from charrnn_tui.core.events import Finished, Notice
from charrnn_tui.model import checkpoint
from charrnn_tui.runs.listing import summarize
from charrnn_tui.runs.metrics_log import read_metrics
from charrnn_tui.runs.records import read_config
from charrnn_tui.text.corpus import Corpus, load_corpus
from charrnn_tui.training.trainer import Trainer

TINY = ["--preset", "tiny", "--device", "cpu", "--eval-interval", "10", "--log-interval", "5"]


def cli(env: dict[str, str], *args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "charrnn_tui", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout
    )


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, done.stderr
    return done


def trained(corpus_path: Path, run: Path, **overrides) -> None:
    """The run `--train-only --corpus PATH --preset tiny` (with TINY's flags) leaves, trained in this process
    for tests about what a later CLI run makes of it: the same corpus loading and trainer, without the
    second or two a CLI process spends importing torch."""
    cfg = TINY_CONFIG.with_overrides(device="cpu", eval_interval=10, log_interval=5, **overrides)
    assert isinstance(Trainer(load_corpus(str(corpus_path)), cfg, run).run(), Finished)


def test_a_latin1_run_resumes_with_its_recorded_encoding(cli_environ, small_text_file: Path, tmp_path: Path) -> None:
    latin = tmp_path / "latin.txt"
    latin.write_bytes((small_text_file.read_text() + "café à la crème\n").encode("latin-1"))
    run = tmp_path / "run"
    ok(cli(cli_environ, "--train-only", "--corpus", str(latin), "--encoding", "latin-1", *TINY, "--steps", "10",
           "--run-dir", str(run)))  # fmt: skip
    done = ok(cli(cli_environ, "--train-only", "--resume", "--run-dir", str(run), "--steps", "20"))
    assert "continuing from step 10" in done.stdout


def test_resume_finds_a_relative_corpus_from_another_folder(cli_environ, small_text_file: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir(), b.mkdir()
    (a / "notes.txt").write_text(small_text_file.read_text())
    run = tmp_path / "R"
    ok(cli(cli_environ, "--train-only", "--corpus", "notes.txt", *TINY, "--steps", "10", "--run-dir", str(run), cwd=a))
    ok(cli(cli_environ, "--train-only", "--resume", "--run-dir", str(run), "--steps", "20", cwd=b))
    # Moved away: the message says where it was and how to point to it.
    (a / "notes.txt").rename(b / "moved.txt")
    done = cli(cli_environ, "--train-only", "--resume", "--run-dir", str(run), "--steps", "30", cwd=b)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert str(a / "notes.txt") in done.stderr and "--corpus" in done.stderr
    ok(cli(cli_environ, "--train-only", "--resume", "--run-dir", str(run), "--steps", "30", "--corpus", "moved.txt",
           cwd=b))  # fmt: skip


def test_a_changed_corpus_with_the_same_characters_restarts_the_streams(
    cli_environ, small_text_file: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    trained(small_text_file, run, sampling="tbptt", batch_size=4, seq_len=32, steps=30)
    config_before = (run / "config.json").read_text()
    # Too small for the run's batch: refused with a reason, and nothing in the folder changes.
    tiny_text = tmp_path / "tiny.txt"
    tiny_text.write_text(small_text_file.read_text()[:100])
    done = cli(
        cli_environ, "--train-only", "--resume", "--run-dir", str(run), "--steps", "60", "--corpus", str(tiny_text)
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr and "batch" in done.stderr
    assert (run / "config.json").read_text() == config_before
    # A 4.5 KB text with the same characters: trained on, with a notice, and recorded once it is saved.
    text = small_text_file.read_text()
    head = text[:4500] + "".join(sorted(set(text) - set(text[:4500])))
    smaller = tmp_path / "smaller.txt"
    smaller.write_text(head)
    done = ok(cli(cli_environ, "--train-only", "--resume", "--run-dir", str(run), "--steps", "60", "--corpus",
                  str(smaller)))  # fmt: skip
    assert "corpus changed" in done.stderr and "start afresh" in done.stderr
    assert read_config(run).corpus.path == smaller
    ok(cli(cli_environ, "--train-only", "--resume", "--run-dir", str(run), "--steps", "70"))  # a plain resume works


def test_a_second_writer_on_the_same_run_is_refused(cli_environ, small_text_file: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-m", "charrnn_tui", "--train-only", "--corpus", str(small_text_file), *TINY, "--steps", "0",
         "--max-seconds", "60", "--run-dir", str(run)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_environ,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (run / "metrics.jsonl").exists() or not (run / "metrics.jsonl").read_text():
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read() if first.stderr else ""
            time.sleep(0.1)
        second = cli(cli_environ, "--train-only", "--resume", "--run-dir", str(run), "--steps", "500")
        assert second.returncode == 1 and "another process is writing" in second.stderr
        assert f"pid {first.pid}" in second.stderr
    finally:
        first.terminate()
        first.communicate(timeout=60)
    rows = read_metrics(run / "metrics.jsonl")
    assert len({r["step"] for r in rows}) == len(rows)  # one writer: no step logged twice


def test_a_file_name_that_is_not_utf8(cli_environ, small_text_file: Path, tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9.txt")
    path = tmp_path / name
    path.write_bytes(small_text_file.read_bytes())
    run = tmp_path / "run"
    env = cli_environ | {"LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
    done = ok(cli(env, "--train-only", "--corpus", str(path), *TINY, "--steps", "10", "--run-dir", str(run)))
    assert "Traceback" not in done.stderr
    ok(cli(env, "--train-only", "--resume", "--run-dir", str(run), "--steps", "20"))


def test_an_edited_metrics_row_is_skipped_and_said(cli_environ, small_text_file: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    trained(small_text_file, run, steps=10)
    rows = (run / "metrics.jsonl").read_text().splitlines()
    rows[0] = rows[0].replace('"step": 5', '"step": "five"')
    (run / "metrics.jsonl").write_text("\n".join(rows) + "\n")
    done = ok(cli(cli_environ, "--train-only", "--resume", "--run-dir", str(run), "--steps", "20"))
    assert "skipped 1 unreadable row" in done.stderr and "metrics.jsonl" in done.stderr


def test_keep_best_survives_continuation(small_corpus: Corpus, tiny, tmp_path: Path) -> None:
    # A short repeated text with a high learning rate overfits: the best evaluation falls inside the first half.
    text = Corpus("short", (("To be, or not to be, that is the question. " * 3) + "\n") * 40, "built-in")
    cfg = tiny(steps=200, eval_interval=25, lr=0.03, hidden=96, batch_size=8, seq_len=16, keep_best=True, ema=0.9,
               lr_schedule="constant")  # fmt: skip
    whole = Trainer(text, cfg.with_overrides(steps=400), tmp_path / "whole").run()
    half = Trainer(text, cfg, tmp_path / "split").run()
    assert isinstance(half, Finished) and half.step == 200
    events = []
    rest = Trainer(text, cfg.with_overrides(steps=400), tmp_path / "split", events.append, resume=True).run()
    assert isinstance(whole, Finished) and isinstance(rest, Finished), (whole, rest)
    # The one notice: the first half ended on its best weights, and training on starts from its last ones.
    told = [e.message for e in events if isinstance(e, Notice)]
    assert told == ([] if half.kept_step is None else [
        f"when this run ended at step 200 (step budget reached), it held its best weights, of step "
        f"{half.kept_step:,} (trained to step 200). Training on continues from its last weights (step 200), past its "
        "best, and ends on the best weights again unless it beats them"
    ])  # fmt: skip
    assert (rest.kept_step, rest.best_val_loss) == (whole.kept_step, whole.best_val_loss)
    a, b = checkpoint.load(tmp_path / "whole"), checkpoint.load(tmp_path / "split")
    wa, wb = checkpoint.generation_weights(a), checkpoint.generation_weights(b)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.parametrize("save", [True, False])
def test_quitting_without_saving_leaves_the_list_on_the_checkpoint(small_corpus: Corpus, tiny, tmp_path: Path, save):
    cfg = tiny(steps=0, max_seconds=0, eval_interval=10, log_interval=1)
    trainer = None

    def on_event(ev) -> None:
        if type(ev).__name__ == "Step" and ev.step == 14:
            trainer.control.stop(save=save)

    trainer = Trainer(small_corpus, cfg, tmp_path / "run", on_event)
    trainer.run()
    summary = summarize(tmp_path / "run")
    on_disk = checkpoint.load(tmp_path / "run")
    assert summary.step == on_disk["step"] == (14 if save else 10)
    assert summary.best_val_loss == on_disk["best_val_loss"]
    assert json.loads((tmp_path / "run" / "checkpoint.json").read_text())["step"] == summary.step
