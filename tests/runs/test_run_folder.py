"""The run folder: records, listing what is on disk, damage that is shown rather than raised, the writer lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from charrnn_tui.core.config import TINY
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.core.events import Notice
from charrnn_tui.runs.folder import LOCK_NAME, RunLock, create_run_dir
from charrnn_tui.runs.listing import list_runs, summarize
from charrnn_tui.runs.metrics_log import MetricsLog, read_metrics
from charrnn_tui.runs.records import read_config, record_corpus, write_config
from charrnn_tui.text.corpus import Corpus
from charrnn_tui.training.trainer import Trainer


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory, small_corpus: Corpus) -> Path:
    run = tmp_path_factory.mktemp("runs") / "trained"
    cfg = TINY.with_overrides(device="cpu", steps=20, eval_interval=10, log_interval=5, checkpoint_seconds=0)
    assert Trainer(small_corpus, cfg, run).run().step == 20
    return run


def copy_run(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for p in src.iterdir():
        if p.is_file() and p.name != LOCK_NAME:
            (dst / p.name).write_bytes(p.read_bytes())
            os.utime(dst / p.name, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns))
    return dst


def test_corpus_record_round_trips_a_path_that_is_not_utf8(tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9.txt")  # Latin-1 bytes on a UTF-8 system: a lone surrogate in str
    path = tmp_path / name
    path.write_text("some text\n")
    record = record_corpus("caf", "some text\n", str(path), "latin-1")
    write_config(tmp_path / "run", TINY, record)
    back = read_config(tmp_path / "run").corpus
    assert back == record and os.fsencode(back.path) == os.fsencode(path)
    assert "\\xe9" in back.shown  # printable, never a UnicodeEncodeError
    assert json.loads((tmp_path / "run" / "config.json").read_text(encoding="ascii"))


def test_a_format_1_config_is_still_read(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"config": TINY.to_dict(), "corpus": {"name": "n", "source": "x.txt"}})
    )
    record = read_config(tmp_path).corpus
    assert (record.builtin, record.path, record.sha256) == (False, Path("x.txt"), None)


def test_two_runs_started_in_the_same_second_get_two_folders(tmp_path: Path) -> None:
    now = time.time()
    a, b = create_run_dir(tmp_path, "hamlet", now), create_run_dir(tmp_path, "hamlet", now)
    assert a != b and a.is_dir() and b.is_dir() and b.name == a.name + "-2"


def test_the_list_shows_the_checkpoint_not_rows_logged_after_it(trained_run: Path, tmp_path: Path) -> None:
    run = copy_run(trained_run, tmp_path / "r")
    with open(run / "metrics.jsonl", "a") as f:  # what quitting without saving leaves: rows past the checkpoint
        f.write(json.dumps({"step": 27, "train_loss": 1.0, "val_loss": 0.5}) + "\n")
    (summary,) = list_runs(tmp_path)
    assert summary.problem is None and summary.step == 20
    assert summary.best_val_loss == json.loads((run / "checkpoint.json").read_text())["best_val_loss"]
    assert summary.best_val_loss > 0.5


@pytest.mark.parametrize(
    "damage, needle",
    [
        (lambda r: (r / "config.json").write_text("{not json"), "config.json is damaged"),
        (lambda r: (r / "config.json").write_text('{"config": {"hidden": "big"}, "corpus": {}}'), "damaged"),
        (lambda r: (r / "config.json").write_text(json.dumps({"config": {}, "corpus": {"name": 3}})), "damaged"),
        (lambda r: (r / "checkpoint.pt").write_bytes((r / "checkpoint.pt").read_bytes()[:500]), "checkpoint.pt"),
        (lambda r: (r / "metrics.jsonl").write_text('{"step": "x"}\n[1, 2]\n'), "unreadable row"),
        (lambda r: (r / "config.json").unlink(), "no config.json"),
    ],
)
def test_damage_marks_the_run_and_never_raises(trained_run: Path, tmp_path: Path, damage, needle: str) -> None:
    run = copy_run(trained_run, tmp_path / "r")
    damage(run)
    (summary,) = list_runs(tmp_path)
    assert summary.problem and needle in summary.problem


def test_checkpoint_info_that_belongs_to_another_checkpoint_is_not_believed(trained_run: Path, tmp_path: Path) -> None:
    run = copy_run(trained_run, tmp_path / "r")
    (run / "checkpoint.pt").write_bytes((run / "checkpoint.pt").read_bytes() + b"")
    os.utime(run / "checkpoint.pt", ns=(1, 1))
    (summary,) = list_runs(tmp_path)
    assert summary.has_checkpoint and summary.checkpoint is None and summary.problem is None


def test_bad_metrics_rows_are_skipped_and_named(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "train_loss": 2}\n{"step": 2, "train_loss": "NaN"}\n{"st\n')
    read = MetricsLog(tmp_path).read()
    assert [r["step"] for r in read.rows] == [1] and read.skipped == [2, 3]
    assert "metrics.jsonl" in read.note(tmp_path / "metrics.jsonl")


def test_a_second_writer_is_refused_with_the_holders_name(tmp_path: Path) -> None:
    with RunLock(tmp_path):
        with pytest.raises(CharRNNError, match=rf"another process is writing .*pid {os.getpid()}"):
            RunLock(tmp_path).acquire()
    RunLock(tmp_path).acquire()  # released: free again


def test_a_lock_left_by_a_killed_process_never_blocks(tmp_path: Path) -> None:
    code = (
        "import sys, time; from pathlib import Path; from charrnn_tui.runs.folder import RunLock\n"
        "RunLock(Path(sys.argv[1])).acquire(); print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(CharRNNError, match=f"pid {holder.pid}"):
            RunLock(tmp_path).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    lock = RunLock(tmp_path)
    lock.acquire()
    assert lock.held


def test_a_run_folder_deleted_during_training_is_made_again_from_memory(small_corpus: Corpus, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "run"
    events = []

    def on_event(ev) -> None:
        events.append(ev)
        if getattr(ev, "step", 0) == 12 and type(ev).__name__ == "Step" and run.exists():
            shutil.rmtree(run)

    cfg = TINY.with_overrides(device="cpu", steps=30, eval_interval=10, log_interval=5, checkpoint_seconds=0)
    result = Trainer(small_corpus, cfg, run, on_event).run()
    assert type(result).__name__ == "Finished", result
    assert any(isinstance(e, Notice) and "was deleted" in e.message for e in events)
    summary = summarize(run)
    assert summary.problem is None and summary.step == 30
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [5, 10, 15, 20, 25, 30]


def test_a_new_run_that_fails_before_its_first_checkpoint_leaves_no_folder(tmp_path: Path) -> None:
    run = create_run_dir(tmp_path, "short")
    result = Trainer(Corpus("short", "tiny text\n", "built-in"), TINY.with_overrides(device="cpu"), run).run()
    assert type(result).__name__ == "Failed" and "too short" in result.message
    assert not run.exists()
