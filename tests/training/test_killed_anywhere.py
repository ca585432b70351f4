"""The process dies at the worst moment: a real headless training (`python -m charrnn_tui --train-only`) killed with
SIGKILL again and again, most often inside a checkpoint write. After every kill the folder holds a whole
checkpoint that its checkpoint.json describes and its metrics.jsonl reaches, and the run, resumed each time,
ends on exactly the trajectory of a run that was never interrupted (the resume is exact: tests/training/
test_trainer.py::test_resume_is_exact)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from charrnn_tui.core.config import TINY
from charrnn_tui.core.events import Finished
from charrnn_tui.model import checkpoint
from charrnn_tui.runs.metrics_log import MetricsLog, read_metrics
from charrnn_tui.runs.records import read_checkpoint_info, read_config
from charrnn_tui.text.corpus import load_corpus
from charrnn_tui.training.trainer import Trainer

STEPS = 120
KILLS = 5
# A checkpoint after nearly every step (timer 1 ms) and an evaluation every 5: most moments fall inside a save.
FLAGS = ["--preset", "tiny", "--device", "cpu", "--log-interval", "1", "--eval-interval", "5",
         "--checkpoint-seconds", "0.001", "--steps", str(STEPS)]  # fmt: skip


def in_a_write(run: Path) -> bool:
    """A temporary of the checkpoint or its record is in the folder: a save is under way."""
    try:
        return any(n.startswith(".checkpoint") and ".tmp" in n for n in os.listdir(run))
    except OSError:
        return False


def wait_until(test, proc: subprocess.Popen, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not test():
        if proc.poll() is not None:
            pytest.fail(f"the training ended ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout} s")
        time.sleep(0.0002)


def kill_at_a_bad_moment(proc: subprocess.Popen, run: Path, out: Path, rng: random.Random) -> bool:
    """SIGKILL the training: some steps in, then mostly as soon as a save has begun (or some way into it).
    Returns whether a save was under way when it died."""
    wait_until(lambda: "\nstep " in out.read_text(), proc, 60, "its first step")
    time.sleep(rng.uniform(0, 0.15))
    if rng.random() < 0.8:
        wait_until(lambda: in_a_write(run), proc, 30, "a checkpoint write")
        if rng.random() < 0.6:
            time.sleep(rng.uniform(0, 0.003))  # into the write, the fsync, the renames
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    return in_a_write(run)


def check_whole(run: Path, every: int = 1) -> int:
    """The folder after a kill: a checkpoint that loads, described by checkpoint.json, with metrics.jsonl holding
    every row (one each `every` steps) up to its step. Returns its step."""
    ckpt = checkpoint.load(run)
    info = read_checkpoint_info(run)
    assert info is not None, "checkpoint.json does not describe checkpoint.pt"
    assert (info.step, info.best_val_loss, info.last_val_loss) == (
        ckpt["step"], ckpt["best_val_loss"], ckpt["last_val_loss"],
    )  # fmt: skip
    rows = MetricsLog(run).read(up_to_step=ckpt["step"]).rows
    assert [r["step"] for r in rows] == list(range(every, ckpt["step"] + 1, every))
    return ckpt["step"]


def test_killed_again_and_again_it_resumes_whole_on_the_same_trajectory(
    cli_environ, small_text_file: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "charrnn_tui", "--train-only", "--corpus", str(small_text_file), *FLAGS]
    rng = random.Random(27)
    last_step, in_writes = 0, 0
    for attempt in range(KILLS):
        out = tmp_path / f"out{attempt}"
        with open(out, "w") as o:
            resume = ["--resume"] if attempt else []
            proc = subprocess.Popen([*cmd, *resume, "--run-dir", str(run)], stdout=o, stderr=subprocess.STDOUT,
                                    env=cli_environ, start_new_session=True)  # fmt: skip
        try:
            if not attempt:  # the first kill comes once there is a checkpoint to resume from
                wait_until(lambda: (run / "checkpoint.json").exists(), proc, 60, "a first checkpoint")
            in_writes += kill_at_a_bad_moment(proc, run, out, rng)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
        assert proc.returncode == -signal.SIGKILL, out.read_text()
        if attempt:
            assert f"continuing from step {last_step}\n" in out.read_text()
        step = check_whole(run)
        assert step >= last_step
        last_step = step

    done = subprocess.run([*cmd, "--resume", "--run-dir", str(run)], capture_output=True, text=True,
                          env=cli_environ, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"continuing from step {last_step}\n" in done.stdout
    assert check_whole(run) == STEPS
    assert not [n for n in os.listdir(run) if ".tmp" in n]  # what the kills left half-written is gone

    # The same run never interrupted, in this process (one thread, as the CLI's OMP_NUM_THREADS=1 gives it).
    cfg = TINY.with_overrides(device="cpu", log_interval=1, eval_interval=5, checkpoint_seconds=0.001, steps=STEPS)
    assert read_config(run).config == cfg  # the CLI trained these very settings
    whole = Trainer(load_corpus(str(small_text_file)), cfg)
    assert isinstance(whole.run(), Finished)

    def trajectory(rows):
        return [(r["step"], r["train_loss"], r.get("val_loss")) for r in rows]

    assert trajectory(read_metrics(run / "metrics.jsonl")) == trajectory(whole.history)
    print(f"{KILLS} kills, {in_writes} of them inside a checkpoint write; resumed at step {last_step}")


KILL_AFTER_FIRST_RENAME = """
import os, signal, sys
from pathlib import Path
from charrnn_tui.core.config import TINY
from charrnn_tui.text.corpus import load_corpus
from charrnn_tui.training.trainer import Trainer

run = Path(sys.argv[2])
replace = os.replace
renames = []

def replace_then_die(src, dst):
    replace(src, dst)
    if Path(dst).parent == run and Path(dst).name.startswith("checkpoint."):
        renames.append(dst)
        if len(renames) == 3:  # the first file of the second save is in place: the power goes
            os.kill(os.getpid(), signal.SIGKILL)

os.replace = replace_then_die
cfg = TINY.with_overrides(device="cpu", steps=20, eval_interval=10, log_interval=5, checkpoint_seconds=0)
Trainer(load_corpus(sys.argv[1]), cfg, run).run()
"""


def test_killed_between_the_checkpoint_and_its_record_the_folder_still_describes_itself(
    cli_environ, small_text_file: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    died = subprocess.run([sys.executable, "-c", KILL_AFTER_FIRST_RENAME, str(small_text_file), str(run)],
                          capture_output=True, text=True, env=cli_environ, timeout=60)  # fmt: skip
    assert died.returncode == -signal.SIGKILL, died.stderr
    # The second save (step 20) died after renaming one of its two files: checkpoint.pt and checkpoint.json
    # still agree, on the checkpoint of step 10 or on that of step 20.
    assert check_whole(run, every=5) in (10, 20)
