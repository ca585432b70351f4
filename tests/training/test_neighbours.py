"""Neighbours: a process confined to fewer cores than the machine has trains on as many threads as it may use; an
app and a headless run on one run folder, the second refused in one line by the run's lock and the first unharmed
(two headless runs: tests/training/test_resume_cases.py); a corpus file that changes while a run trains on it."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from charrnn_tui.core.events import Failed, Finished
from charrnn_tui.model import checkpoint
from charrnn_tui.runs.metrics_log import read_metrics
from charrnn_tui.runs.records import read_config, text_sha256
from charrnn_tui.text.corpus import load_corpus
from charrnn_tui.training.cpu_threads import fit_threads_to_cores, usable_cores

TINY = ["--preset", "tiny", "--device", "cpu", "--eval-interval", "10", "--log-interval", "5"]
TWO_CORES = pytest.mark.skipif(usable_cores() < 2, reason="confining needs a process that may use two cores")


def cli(env: dict[str, str], *args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "charrnn_tui", *args], capture_output=True, text=True, env=env, timeout=120
    )


def unpinned(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}


# ---- cores ------------------------------------------------------------------------------------------------------
@TWO_CORES
@pytest.mark.skipif(shutil.which("taskset") is None, reason="no taskset")
def test_a_run_started_under_taskset_trains_on_the_one_core_it_may_use(
    cli_environ, small_text_file: Path, tmp_path: Path
) -> None:
    env = unpinned(cli_environ)
    args = ("--train-only", "--corpus", str(small_text_file), *TINY, "--steps", "20", "--run-dir", str(tmp_path / "r"))
    confined = cli(env, *args, prefix=("taskset", "-c", "0"))
    assert confined.returncode == 0, confined.stderr
    said = confined.stdout + confined.stderr  # the progress lines' stream is the front end's choice
    assert "device cpu, 1 thread," in said, said
    assert {r["threads"] for r in read_metrics(tmp_path / "r" / "metrics.jsonl")} == {1}


CONFINED_LATER = """
import os, sys, torch
from pathlib import Path
from charrnn_tui.core.config import TINY
from charrnn_tui.text.corpus import load_corpus
from charrnn_tui.training.trainer import Trainer
before = torch.get_num_threads()
os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # as `taskset -p` or a changed cpuset does
events = []
cfg = TINY.with_overrides(device="cpu", steps=20, eval_interval=10)
result = Trainer(load_corpus(sys.argv[1]), cfg, on_event=events.append).run()
started = next(e for e in events if type(e).__name__ == "Started")
print(before, started.threads, started.threads_chosen, torch.get_num_threads(), type(result).__name__)
"""


@TWO_CORES
def test_a_process_confined_after_torch_started_trains_on_the_cores_left_to_it(
    cli_environ, small_text_file: Path
) -> None:
    # PyTorch counts the cores once, when it loads; a process confined later kept two threads on one core.
    done = subprocess.run([sys.executable, "-c", CONFINED_LATER, str(small_text_file)], capture_output=True,
                          text=True, env=unpinned(cli_environ), timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    before, threads, chosen, after, result = done.stdout.split()
    assert int(before) >= 2 and (threads, chosen, after, result) == ("1", "False", "1", "Finished")


def test_a_count_pinned_by_the_user_stands_on_fewer_cores() -> None:
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert fit_threads_to_cores({"OMP_NUM_THREADS": "2"}, cores=1) == 2 and torch.get_num_threads() == 2
        assert fit_threads_to_cores({}, cores=1) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


# ---- two processes on one run -------------------------------------------------------------------------------------
def start_headless(env: dict[str, str], corpus: Path, run: Path, *extra: str) -> subprocess.Popen:
    """A headless training of the tiny preset for up to 60 s on `corpus` into `run`, with `extra` flags."""
    args = ["--train-only", "--corpus", str(corpus), *TINY, "--steps", "0", "--max-seconds", "60", *extra]
    return subprocess.Popen([sys.executable, "-m", "charrnn_tui", *args, "--run-dir", str(run)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip


def wait_until(proc: subprocess.Popen | None, condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc is None or proc.poll() is None, proc.stderr.read() if proc and proc.stderr else what
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def stop(proc: subprocess.Popen) -> tuple[str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # Ctrl+C: saves and ends
    return proc.communicate(timeout=60)


def whole(run: Path) -> None:
    """The run a second process was refused on is intact: a checkpoint that loads, one row per step."""
    ckpt = checkpoint.load(run)
    rows = read_metrics(run / "metrics.jsonl")
    assert rows and len({r["step"] for r in rows}) == len(rows) and ckpt["step"] >= rows[-1]["step"]


def test_the_app_is_refused_a_run_a_headless_training_is_writing(
    cli_environ, small_text_file: Path, tmp_path: Path
) -> None:
    from charrnn_tui.tui.app import CharRNNApp

    run = tmp_path / "run"
    first = start_headless(cli_environ, small_text_file, run, "--checkpoint-seconds", "0.2")
    try:
        wait_until(first, lambda: (run / "checkpoint.pt").exists() and read_metrics(run / "metrics.jsonl"),
                   "the headless run's first checkpoint")  # fmt: skip
        app = CharRNNApp(run_dir=run, resume=True, test_mode=True)

        async def go() -> Failed | Finished | None:
            async with app.run_test() as pilot:
                end = time.monotonic() + 60
                while (app.session is None or app.session.result is None) and time.monotonic() < end:
                    await pilot.pause(0.1)
                return app.session.result if app.session else None

        result = asyncio.run(go())
        assert isinstance(result, Failed), result
        assert "another process is writing" in result.message and f"pid {first.pid}" in result.message
        assert "\n" not in result.message
        assert first.poll() is None  # the first run trains on
    finally:
        out, err = stop(first)
    assert first.returncode in (0, 130) and "Traceback" not in err, err  # 130: ended by Ctrl+C, saved
    whole(run)


def test_a_headless_resume_is_refused_a_run_the_app_is_training(small_text_file, tiny, cli_environ, tmp_path) -> None:
    from charrnn_tui.tui.app import CharRNNApp

    run = tmp_path / "run"
    app = CharRNNApp(test_mode=True)
    second: list[subprocess.CompletedProcess] = []

    async def go() -> Failed | Finished | None:
        async with app.run_test() as pilot:
            cfg = tiny(steps=0, max_seconds=60, checkpoint_seconds=0.2)
            session = app.start_training(load_corpus(str(small_text_file)), cfg, run)
            end = time.monotonic() + 60
            while not (run / "checkpoint.pt").exists() and time.monotonic() < end:
                await pilot.pause(0.1)
            done = await asyncio.to_thread(cli, cli_environ, "--train-only", "--resume", "--run-dir", str(run))
            second.append(done)
            assert session.result is None  # still training
            session.control.stop()
            while session.result is None and time.monotonic() < end:
                await pilot.pause(0.1)
            return session.result

    result = asyncio.run(go())
    done = second[0]
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and "another process is writing" in lines[0], done.stderr
    assert f"pid {os.getpid()}" in lines[0]
    assert isinstance(result, Finished), result
    whole(run)


# ---- a corpus that changes while it trains -------------------------------------------------------------------------
def test_a_corpus_file_rewritten_while_it_trains_leaves_the_run_on_the_text_it_read(
    cli_environ, small_text_file: Path, tmp_path: Path
) -> None:
    original = small_text_file.read_text(encoding="utf-8")
    run = tmp_path / "run"
    first = start_headless(cli_environ, small_text_file, run)
    try:
        wait_until(first, lambda: read_metrics(run / "metrics.jsonl"), "the first metrics row")
        # Rewritten in place (an editor saving, a download going on): same characters, another text.
        small_text_file.write_text(original[len(original) // 2 :] + original[: len(original) // 2], encoding="utf-8")
        time.sleep(0.5)
        assert first.poll() is None
    finally:
        out, err = stop(first)
    assert first.returncode in (0, 130) and "Traceback" not in err, err  # 130: ended by Ctrl+C, saved
    record = read_config(run).corpus
    assert (record.sha256, record.chars) == (text_sha256(original), len(original))  # what it trained on
    whole(run)
    resumed = cli(cli_environ, "--train-only", "--resume", "--run-dir", str(run), "--steps", "0", "--max-seconds", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert "corpus changed since this run last trained on it" in resumed.stderr
    # A file now of other characters is refused in one line, and the run stays whole.
    small_text_file.write_text("日本語のテキスト" * 2000, encoding="utf-8")
    refused = cli(cli_environ, "--train-only", "--resume", "--run-dir", str(run), "--steps", "0", "--max-seconds", "2")
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 1 and len(lines) == 1 and "not the one the run was trained on" in lines[0]
    whole(run)
    assert load_corpus(str(small_text_file)).text != original
