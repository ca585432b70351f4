"""The disk says no: a real small tmpfs that fills up during a checkpoint or a metrics row, a run folder made
read-only (a real read-only bind mount) in the middle of a run, a read-only data dir. Each time the checkpoint on
disk stays byte for byte, no temporary or torn row is left or taken for a good file, training goes on with one
notice, and the folder is written again as soon as there is room."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers.processes import run_all

from charrnn_tui.core.events import CheckpointSaved, Failed, Finished, Notice, Step
from charrnn_tui.model import checkpoint
from charrnn_tui.runs.metrics_log import MetricsLog
from charrnn_tui.runs.records import read_checkpoint_info
from charrnn_tui.text.corpus import Corpus, load_corpus
from charrnn_tui.training.trainer import Trainer


def mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount here (needs root and mount rights): {done.stderr.strip()}")


def unmount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MB tmpfs: room for a few tiny checkpoints (about 340 kB each) until a ballast fills it."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk))
    try:
        yield disk
    finally:
        unmount(disk)


def fill(disk: Path, leave: int) -> Path:
    """Fill the disk with a ballast file until about `leave` bytes are free; returns the ballast."""
    ballast = disk / "ballast"
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    with open(ballast, "ab") as f:
        f.write(b"\0" * max(0, free - leave))
    st = os.statvfs(disk)
    assert st.f_bavail * st.f_frsize <= leave + 4096
    return ballast


def temporaries(run: Path) -> list[str]:
    return [n for n in os.listdir(run) if ".tmp" in n]


def files(run: Path) -> dict[str, bytes]:
    return {n: (run / n).read_bytes() for n in ("checkpoint.pt", "checkpoint.json")}


class Run:
    """A real tiny training whose events go to `on_event(ev, run)` in the training thread, collected."""

    def __init__(self, corpus: Corpus, cfg, run_dir: Path, on_event: Callable | None = None, resume=False) -> None:
        self.events: list = []
        self.dir = run_dir

        def collect(ev) -> None:
            self.events.append(ev)
            if on_event is not None:
                on_event(ev, self)

        self.trainer = Trainer(corpus, cfg, run_dir, collect, resume=resume)
        self.result = self.trainer.run()

    def notices(self) -> list[str]:
        return [e.message for e in self.events if isinstance(e, Notice)]

    def saved(self) -> list[int]:
        return [e.step for e in self.events if isinstance(e, CheckpointSaved)]


def rows_on_disk(run: Path) -> list[int]:
    read = MetricsLog(run).read()
    assert read.skipped == []  # no torn or half-written row
    return [r["step"] for r in read.rows]


def test_a_checkpoint_on_a_full_disk_keeps_the_old_one_and_training_goes_on(
    small_disk: Path, small_corpus: Corpus, tiny
) -> None:
    run_dir, seen = small_disk / "run", {}

    def on_event(ev, run: Run) -> None:
        if isinstance(ev, Step) and ev.step == 12:  # the checkpoint of step 10 is on disk
            seen["before"] = files(run_dir)
            seen["ballast"] = fill(small_disk, leave=64 * 1024)  # rows fit, a checkpoint does not
        elif isinstance(ev, Step) and ev.step == 21:  # the save of step 20 was refused
            seen["after"], seen["tmp"] = files(run_dir), temporaries(run_dir)
            seen["ballast"].unlink()  # room again

    run = Run(small_corpus, tiny(steps=40, eval_interval=10, log_interval=5), run_dir, on_event)
    assert isinstance(run.result, Finished), run.result
    assert seen["after"] == seen["before"] and seen["tmp"] == []  # byte for byte, nothing half-written left
    refused, again = run.notices()
    assert refused.startswith(f"cannot write {run_dir / 'checkpoint.pt'}: No space left on device; training goes on")
    assert "the checkpoint of step 10 stays as it was" in refused and "free some space" in refused
    assert again == f"the run folder {run_dir} takes writes again: the checkpoint of step 30 is saved"
    assert run.saved() == [10, 30, 40]
    assert checkpoint.load(run_dir)["step"] == 40 and read_checkpoint_info(run_dir).step == 40
    assert rows_on_disk(run_dir) == [5, 10, 15, 20, 25, 30, 35, 40]
    assert temporaries(run_dir) == []


def test_a_metrics_row_on_a_full_disk_is_never_torn_and_is_written_once_there_is_room(
    small_disk: Path, small_corpus: Corpus, tiny
) -> None:
    run_dir, seen = small_disk / "run", {}

    def on_event(ev, run: Run) -> None:
        if isinstance(ev, Step) and ev.step > 10 and "filled" not in seen:
            metrics = run_dir / "metrics.jsonl"
            row = len(metrics.read_bytes().splitlines()[-1])
            # Filled when the next row fits only partly in the file's last page: the disk takes part of the write
            # and then refuses the rest, as a full disk does.
            if 0 < 4096 - metrics.stat().st_size % 4096 < row - 20:
                seen["ballast"] = seen["filled"] = fill(small_disk, leave=0)
        elif isinstance(ev, Notice) and "metrics.jsonl" in ev.message:
            seen["refused_at"], seen["rows"] = ev.step, rows_on_disk(run_dir)  # no torn row left
        elif isinstance(ev, Step) and "refused_at" in seen and "ballast" in seen:
            seen.pop("ballast").unlink()

    run = Run(small_corpus, tiny(steps=80, eval_interval=10, log_interval=1), run_dir, on_event)
    assert isinstance(run.result, Finished), run.result
    assert "refused_at" in seen, "the disk never filled"
    assert seen["rows"] == list(range(1, seen["refused_at"]))  # the rows before the refused one, whole
    assert "No space left on device; training goes on and keeps its rows in memory" in run.notices()[0]
    assert rows_on_disk(run_dir) == list(range(1, 81))  # the rows that waited reached the disk
    assert [r["step"] for r in run.trainer.history] == list(range(1, 81))
    assert checkpoint.load(run_dir)["step"] == 80 and temporaries(run_dir) == []


def test_a_final_save_on_a_full_disk_says_where_the_weights_are_not_and_resumes_once_there_is_room(
    small_disk: Path, small_corpus: Corpus, tiny
) -> None:
    run_dir = small_disk / "run"
    first = Run(small_corpus, tiny(steps=10, eval_interval=10, log_interval=5), run_dir)
    assert isinstance(first.result, Finished)
    before = files(run_dir)
    ballast = fill(small_disk, leave=64 * 1024)

    second = Run(small_corpus, tiny(steps=20, eval_interval=10, log_interval=5), run_dir, resume=True)
    assert isinstance(second.result, Failed)
    assert second.result.message == (
        f"cannot save the weights of step 20: {run_dir / 'checkpoint.pt'}: No space left on device, so they are "
        f"not on disk; the checkpoint of step 10 in {run_dir} is kept as it was; free some space, then continue "
        f"it with: charrnn-tui --train-only --resume --run-dir {run_dir}"
    )
    assert second.result.checkpoint == str(run_dir / "checkpoint.pt")
    assert files(run_dir) == before and temporaries(run_dir) == []

    ballast.unlink()
    third = Run(small_corpus, tiny(steps=20, eval_interval=10, log_interval=5), run_dir, resume=True)
    assert isinstance(third.result, Finished) and third.events[0].step == 10, third.result
    assert checkpoint.load(run_dir)["step"] == 20
    assert rows_on_disk(run_dir) == [5, 10, 15, 20]


def test_a_run_folder_made_read_only_mid_run_goes_on_and_saves_once_it_is_writable(
    small_disk: Path, small_corpus: Corpus, tiny
) -> None:
    run_dir, seen = small_disk / "run", {}

    def on_event(ev, run: Run) -> None:
        if isinstance(ev, Step) and ev.step == 12:
            seen["before"] = files(run_dir)
            # A read-only bind mount over the folder: what a remount read-only, or a disk gone bad, does to it.
            mount("--bind", str(run_dir), str(run_dir))
            mount("-o", "remount,bind,ro", str(run_dir))
        elif isinstance(ev, Step) and ev.step == 26:
            seen["after"] = files(run_dir)
            unmount(run_dir)

    try:
        run = Run(small_corpus, tiny(steps=40, eval_interval=10, log_interval=5), run_dir, on_event)
    finally:
        unmount(run_dir)  # whatever happened, the folder is not left read-only behind the test
    assert isinstance(run.result, Finished), run.result
    assert seen["after"] == seen["before"]
    refused, again = run.notices()
    assert refused.startswith(f"cannot write {run_dir / 'metrics.jsonl'}: Read-only file system; training goes on")
    assert "make the folder writable again" in refused
    assert again == f"the run folder {run_dir} takes writes again: the checkpoint of step 30 is saved"
    assert run.saved() == [10, 30, 40]
    assert rows_on_disk(run_dir) == [5, 10, 15, 20, 25, 30, 35, 40]
    assert temporaries(run_dir) == []


def test_a_read_only_data_dir_and_a_read_only_run_are_refused_in_one_line(
    small_disk: Path, small_corpus: Corpus, tiny, cli_environ: dict[str, str], small_text_file: Path
) -> None:
    home, run_dir = small_disk / "home", small_disk / "run"
    home.mkdir()
    assert isinstance(Run(load_corpus(str(small_text_file)), tiny(steps=5), run_dir).result, Finished)
    before = files(run_dir)
    mount("-o", "remount,ro", str(small_disk))  # root writes through permissions; a read-only mount stops it
    try:
        new, resumed = run_all(
            [[sys.executable, "-m", "charrnn_tui", "--train-only", "--corpus", str(small_text_file), "--preset",
              "tiny", "--steps", "2", "--device", "cpu"],
             [sys.executable, "-m", "charrnn_tui", "--train-only", "--resume", "--run-dir", str(run_dir), "--steps",
              "10"]],
            cli_environ | {"CHARRNN_TUI_HOME": str(home)}, timeout=60,
        )  # fmt: skip
    finally:
        mount("-o", "remount,rw", str(small_disk))
    not_writable = "Read-only file system; the folder is not writable; choose another one with --run-dir"
    for done in (new, resumed):
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert new.stderr.startswith(f"charrnn-tui: error: cannot write {home}") and not_writable in new.stderr
    assert (
        resumed.stderr.strip() == f"charrnn-tui: error: cannot write {run_dir / '.lock'}: {not_writable} "
        "(or set CHARRNN_TUI_HOME)"
    )
    assert files(run_dir) == before
