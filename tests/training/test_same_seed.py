"""The same seed, the same run, bit for bit: two real headless trainings with `--seed 11` and the same settings and
no time budget (`--max-seconds 0`) end with identical checkpoints (weights, averaged and best weights, Adam's
moments, random states) and identical losses, whether the thread chooser times 1 and 2 threads as it goes, the
count is pinned to 1 or 2, or checkpoints are saved on a timer at other moments. What a time budget makes differ
is README.md's "The same seed, the same run"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from charrnn_tui.runs.metrics_log import read_metrics

# Dropout, weight drop and carried streams: every random draw and every sum of a step is in the comparison.
SETTINGS = ["--preset", "tiny", "--device", "cpu", "--seed", "11", "--steps", "60", "--max-seconds", "0",
            "--hidden", "128", "--batch-size", "16", "--dropout", "0.2", "--weight-drop", "0.1", "--sampling", "tbptt",
            "--eval-interval", "20", "--log-interval", "10", "--keep-best", "--ema", "0.9"]  # fmt: skip
TIMED = ("elapsed_s", "chars_per_s", "step_s", "threads")  # the metrics columns that measure time, not the run


def train(env: dict[str, str], corpus: Path, run: Path, *extra: str, threads: str | None = None) -> Path:
    env = {k: v for k, v in env.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    if threads is not None:
        env["OMP_NUM_THREADS"] = threads
    done = subprocess.run(
        [sys.executable, "-m", "charrnn_tui", "--train-only", "--corpus", str(corpus), *SETTINGS, *extra,
         "--run-dir", str(run)],
        capture_output=True, text=True, env=env, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return run


def tensors(obj, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor of a checkpoint payload by its path in it."""
    if isinstance(obj, torch.Tensor):
        return {prefix: obj}
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list | tuple) else ()
    return {k: v for key, value in items for k, v in tensors(value, f"{prefix}/{key}").items()}


def assert_same_run(a: Path, b: Path) -> None:
    ca, cb = (torch.load(r / "checkpoint.pt", weights_only=True) for r in (a, b))
    ta, tb = tensors(ca), tensors(cb)
    assert ta.keys() == tb.keys() and any("/best_weights/" in k for k in ta) and any("/optimizer/" in k for k in ta)
    differ = [k for k in ta if not torch.equal(ta[k], tb[k])]
    assert not differ, f"tensors differ: {differ[:5]}"
    assert (ca["step"], ca["best_step"], ca["last_val_loss"]) == (cb["step"], cb["best_step"], cb["last_val_loss"])
    rows = [[{k: v for k, v in r.items() if k not in TIMED} for r in read_metrics(x / "metrics.jsonl")] for x in (a, b)]
    assert rows[0] == rows[1] and rows[0]


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@pytest.mark.skipif(cores() < 2, reason="the thread chooser needs two cores to choose between")
def test_two_runs_with_the_thread_chooser_timing_counts_are_bit_identical(
    cli_environ, small_text_file: Path, tmp_path: Path
) -> None:
    first = train(cli_environ, small_text_file, tmp_path / "a")
    second = train(cli_environ, small_text_file, tmp_path / "b")
    assert {r.get("threads") for r in read_metrics(first / "metrics.jsonl")} <= {1, 2}
    assert_same_run(first, second)


@pytest.mark.skipif(cores() < 2, reason="two threads need two cores")
def test_one_thread_and_two_give_the_same_run(cli_environ, small_text_file: Path, tmp_path: Path) -> None:
    one = train(cli_environ, small_text_file, tmp_path / "one", threads="1")
    two = train(cli_environ, small_text_file, tmp_path / "two", threads="2")
    assert {r["threads"] for r in read_metrics(one / "metrics.jsonl")} == {1}
    assert {r["threads"] for r in read_metrics(two / "metrics.jsonl")} == {2}
    assert_same_run(one, two)


def test_checkpoints_saved_on_a_timer_change_nothing_in_the_run(
    cli_environ, small_text_file: Path, tmp_path: Path
) -> None:
    # A save every step (the timer's whole budget spent at once) against none but the evaluations'.
    quiet = train(cli_environ, small_text_file, tmp_path / "quiet", "--checkpoint-seconds", "0", threads="1")
    saving = train(cli_environ, small_text_file, tmp_path / "saving", "--checkpoint-seconds", "1e-9", threads="1")
    ca, cb = (torch.load(r / "checkpoint.pt", weights_only=True)["config"] for r in (quiet, saving))
    assert (ca.pop("checkpoint_seconds"), cb.pop("checkpoint_seconds")) == (0, 1e-9) and ca == cb
    ta, tb = (tensors(torch.load(r / "checkpoint.pt", weights_only=True)) for r in (quiet, saving))
    assert ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)
