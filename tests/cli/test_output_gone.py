"""`--train-only` when what reads its output goes away: a closed pipe (`| head`), a full disk behind `> file`, a
hang-up (a closed terminal, a dropped SSH connection) and a hang-up that `nohup` ignores. A line that cannot be
printed never ends the training: the run stops after its step with a checkpoint, or goes on. Real subprocesses,
real pipes, real /dev/full, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from charrnn_tui.model import checkpoint
from charrnn_tui.runs.metrics_log import read_metrics

CLI = [sys.executable, "-m", "charrnn_tui", "--train-only"]
TINY = ["--preset", "tiny", "--device", "cpu", "--log-interval", "1", "--checkpoint-seconds", "0"]


def endless(corpus: Path, run: Path) -> list[str]:
    """A run with no budget: only a stop ends it, and nothing is saved before the stop's checkpoint."""
    return [*CLI, "--corpus", str(corpus), *TINY, "--steps", "0", "--max-seconds", "0", "--eval-interval", "100000",
            "--run-dir", str(run)]  # fmt: skip


def test_a_closed_pipe_stops_the_run_with_a_checkpoint(cli_environ, small_text_file: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = subprocess.Popen(
        endless(small_text_file, run), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_environ
    )
    try:
        for _ in range(4):  # what `| head -4` reads, then it closes the pipe
            assert proc.stdout.readline()
        proc.stdout.close()
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    stderr = err.decode()
    assert proc.returncode == 141, stderr  # 128 + SIGPIPE, as a shell reports a pipe's writer
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
    assert "charrnn-tui: stdout went away (Broken pipe): stopping after this step and saving a checkpoint" in stderr
    step = checkpoint.load(run)["step"]
    assert step > 0 and read_metrics(run / "metrics.jsonl")[-1]["step"] <= step
    # What to do next still reaches the user, on the stream that has a reader.
    assert f"done (stopped before its budget) at step {step} " in stderr
    assert f"resume with: charrnn-tui --train-only --resume --run-dir {run}" in stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_behind_stdout_lets_the_run_finish(cli_environ, small_text_file: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = [*CLI, "--corpus", str(small_text_file), *TINY, "--steps", "12", "--eval-interval", "6",
            "--run-dir", str(run)]  # fmt: skip
    with open("/dev/full", "w") as full:
        done = subprocess.run(args, stdout=full, stderr=subprocess.PIPE, text=True, env=cli_environ, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert done.stderr.startswith(
        "note: progress lines cannot be written to stdout (No space left on device); training goes on, and "
        "metrics.jsonl in the run folder holds every row\n"
    )
    assert checkpoint.load(run)["step"] == 12  # trained to its budget
    assert "done (step budget reached) at step 12 " in done.stderr  # the summary went where it can be read


def start_endless(corpus: Path, run: Path, env: dict[str, str], out: Path, ignore_hup: bool = False):
    def child() -> None:
        if ignore_hup:
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # what `nohup` does before it runs the command

    with open(out, "wb") as f:
        return subprocess.Popen(endless(corpus, run), stdout=f, stderr=subprocess.STDOUT, env=env, preexec_fn=child)


def wait_for_rows(run: Path, proc: subprocess.Popen, rows: int = 2, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not ((run / "metrics.jsonl").exists() and len(read_metrics(run / "metrics.jsonl")) >= rows):
        assert proc.poll() is None, "the run ended before logging"
        assert time.monotonic() < end, "no rows logged"
        time.sleep(0.05)


def test_a_hang_up_saves_and_ends_within_5_s(cli_environ, small_text_file: Path, tmp_path: Path) -> None:
    run, out = tmp_path / "run", tmp_path / "out"
    proc = start_endless(small_text_file, run, cli_environ, out)
    try:
        wait_for_rows(run, proc)
        assert not (run / "checkpoint.pt").exists()
        t0 = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        proc.wait(30)
        took = time.monotonic() - t0
    finally:
        proc.kill()
    text = out.read_text()
    assert proc.returncode == 129, text
    assert took < 5, f"{took:.1f} s to end after SIGHUP"
    assert "SIGHUP: stopping after this step and saving a checkpoint..." in text
    assert checkpoint.load(run)["step"] > 0


def test_a_hang_up_that_nohup_ignores_does_not_stop_the_run(cli_environ, small_text_file: Path, tmp_path: Path):
    run, out = tmp_path / "run", tmp_path / "out"
    proc = start_endless(small_text_file, run, cli_environ, out, ignore_hup=True)
    try:
        wait_for_rows(run, proc)
        proc.send_signal(signal.SIGHUP)
        rows = len(read_metrics(run / "metrics.jsonl"))
        wait_for_rows(run, proc, rows + 3)  # still training
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    finally:
        proc.kill()
    assert proc.returncode == 143
    assert "SIGHUP" not in out.read_text()
