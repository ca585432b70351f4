"""The disk says no through a quota: a real headless training (`python -m charrnn_tui --train-only`) whose data
dir lies under a real disk quota (a btrfs qgroup limit on a loop mount, tests/helpers/quota_mount.py) that a
checkpoint goes over. The checkpoint on disk stays byte for byte, no temporary is left or taken for a good file,
the run says in one line that the disk quota is full and what to do, and it resumes once the limit is raised."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers.quota_mount import quota_mount

from charrnn_tui.model import checkpoint
from charrnn_tui.runs.metrics_log import MetricsLog
from charrnn_tui.runs.records import read_checkpoint_info

FLAGS = ["--device", "cpu", "--log-interval", "5", "--eval-interval", "10", "--checkpoint-seconds", "0"]

QUOTA_FULL = "Disk quota exceeded"

REMEDY = "free some space under the disk quota or have it raised"


def train(run: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "charrnn_tui", "--train-only", *FLAGS, "--run-dir", str(run), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)


def files(run: Path) -> dict[str, bytes]:
    return {n: (run / n).read_bytes() for n in ("checkpoint.pt", "checkpoint.json")}


def temporaries(run: Path) -> list[str]:
    return [n for n in os.listdir(run) if ".tmp" in n]


def rows_on_disk(run: Path) -> list[int]:
    read = MetricsLog(run).read()
    assert read.skipped == []  # no torn or half-written row
    return [r["step"] for r in read.rows]


def test_a_checkpoint_over_the_quota_keeps_the_old_one_says_so_in_one_line_and_resumes_once_it_is_raised(
    tmp_path: Path, small_text_file: Path, cli_environ: dict[str, str]
) -> None:
    with quota_mount(tmp_path) as quota:
        run = quota.path / "home" / "run"
        env = cli_environ | {"CHARRNN_TUI_HOME": str(quota.path / "home")}
        first = train(run, env, "--corpus", str(small_text_file), "--preset", "tiny", "--steps", "10")
        assert first.returncode == 0, first.stderr
        before = files(run)
        # Room for the rows and the lock, not for a second checkpoint beside the first: the save of step 20
        # stages its temporary and goes over the limit half way through it.
        quota.set_limit(quota.used() + len(before["checkpoint.pt"]) // 2)

        over = train(run, env, "--resume", "--steps", "30")
        assert over.returncode == 1 and "Traceback" not in over.stderr, over.stderr
        assert files(run) == before and temporaries(run) == []  # byte for byte, nothing half-written left
        assert read_checkpoint_info(run).step == 10  # the record still describes the checkpoint on disk
        assert over.stderr.splitlines() == [  # all it says on stderr
            f"note: cannot write {run / 'checkpoint.pt'}: {QUOTA_FULL}; training goes on and keeps its rows in "
            f"memory, the checkpoint of step 10 stays as it was, and each later checkpoint tries again: {REMEDY} "
            "to let it save",
            f"charrnn-tui: error: cannot save the weights of step 30: {run / 'checkpoint.pt'}: {QUOTA_FULL}, so "
            f"they are not on disk; the checkpoint of step 10 in {run} is kept as it was; {REMEDY}, then continue "
            f"it with: charrnn-tui --train-only --resume --run-dir {run}",
        ], over.stderr
        rows_on_disk(run)  # whole rows only, however many reached the disk

        quota.set_limit(None)
        again = train(run, env, "--resume", "--steps", "30")
        assert again.returncode == 0 and again.stderr == "", again.stderr
        assert "continuing from step 10" in again.stdout.splitlines()
        assert checkpoint.load(run)["step"] == 30 and read_checkpoint_info(run).step == 30
        assert rows_on_disk(run) == [5, 10, 15, 20, 25, 30]  # the refused run's rows past step 10 are not kept
        assert temporaries(run) == []
