"""Two CPU ranks talking gloo, launched by torchrun as a user would (docs/scaling.md), tiny and short."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from helpers.processes import run_all

from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.generation.generator import Generator
from charrnn_tui.model.checkpoint import load, load_model
from charrnn_tui.runs.metrics_log import read_metrics
from charrnn_tui.text.corpus import load_corpus
from charrnn_tui.training.distributed import TIMEOUT_ENV, DistContext, from_environment

pytestmark = [
    pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed"),
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the ranks' processes through /proc"),
]

HERE = Path(__file__).parents[1] / "helpers"  # ddp_rank.py, the script each rank runs
# Random windows: each rank draws its own, so ranks whose gradients were not averaged would drift apart.
TINY = ["--preset", "tiny", "--sampling", "random", "--eval-interval", "20", "--log-interval", "10"]
HANG_GUARD_S = 180  # a hung rank fails the test instead of the whole suite


def torchrun(*args: str) -> list[str]:
    # --standalone picks a free port itself, so tests running side by side cannot collide.
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return env | {"CHARRNN_TUI_HOME": str(home), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def run(cmd: list[str], home: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, env=env_for(home), capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def run_together(cmds: list[list[str]], home: Path) -> list[subprocess.CompletedProcess]:
    """`run` for independent commands, started at once (each mostly one thread: two cores run two)."""
    done = run_all(cmds, env_for(home), HANG_GUARD_S)
    for d in done:
        assert d.returncode == 0, d.stdout + d.stderr
    return done


def children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def rank_of(pid: int) -> int:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return int(next(e for e in environ if e.startswith(b"RANK=")).split(b"=")[1])


def start_endless(run_dir: Path, home: Path, log: Path) -> tuple[subprocess.Popen, dict[int, int]]:
    """torchrun training with no budget, once rank 0 has logged; returns it and {rank: pid}."""
    cmd = torchrun("-m", "charrnn_tui", "--train-only", *TINY, "--steps", "0", "--run-dir", str(run_dir))
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env_for(home), stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + HANG_GUARD_S
    while not read_metrics(run_dir / "metrics.jsonl"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"training did not start: {log.read_text()}")
        time.sleep(0.2)
    ranks = {rank_of(pid): pid for pid in children(proc.pid)}
    assert sorted(ranks) == [0, 1], log.read_text()
    return proc, ranks


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """40 steps on two ranks, each rank's final weights saved beside the run."""
    tmp = tmp_path_factory.mktemp("ddp")
    run_dir, weights = tmp / "run", tmp / "weights"
    weights.mkdir()
    run(torchrun(str(HERE / "ddp_rank.py"), str(weights), *TINY, "--steps", "40", "--run-dir", str(run_dir)), tmp)
    return {"tmp": tmp, "run_dir": run_dir, "weights": weights}


def test_ranks_end_with_the_same_weights_as_the_checkpoint(trained):
    rank0 = torch.load(trained["weights"] / "rank0.pt", weights_only=True)
    rank1 = torch.load(trained["weights"] / "rank1.pt", weights_only=True)
    saved = load(trained["run_dir"])
    assert saved["step"] == 40
    assert rank0.keys() == rank1.keys() == saved["model"].keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
        assert torch.equal(rank0[name], saved["model"][name]), name


def test_two_ranks_learn(trained):
    rows = read_metrics(trained["run_dir"] / "metrics.jsonl")
    train = [r["train_loss"] for r in rows if "train_loss" in r]
    val = [r["val_loss"] for r in rows if "val_loss" in r]
    assert [r["step"] for r in rows] == [10, 20, 30, 40]  # rank 0 alone writes metrics
    assert train[-1] < train[0] - 0.3
    assert val[-1] < val[0]


def test_ranks_stay_identical_under_a_time_budget(tmp_path):
    # The default preset stops on time, and its cosine lr follows the clock: ranks whose clocks differ
    # would step with different learning rates and drift apart even with averaged gradients.
    weights = tmp_path / "weights"
    weights.mkdir()
    flags = [*TINY, "--steps", "0", "--max-seconds", "2", "--run-dir", str(tmp_path / "run")]
    run(torchrun(str(HERE / "ddp_rank.py"), str(weights), *flags), tmp_path)
    rank0 = torch.load(weights / "rank0.pt", weights_only=True)
    rank1 = torch.load(weights / "rank1.pt", weights_only=True)
    assert all(torch.equal(rank0[name], rank1[name]) for name in rank0)


def test_an_early_stop_on_rank_0_ends_every_rank(tmp_path):
    # Only rank 0 evaluates, so only it counts evaluations past the best (patience); the others must stop with
    # it, and the run must end on rank 0's best weights with the reason it gave.
    text = tmp_path / "short.txt"
    text.write_text(load_corpus("hamlet").text[:3000], encoding="utf-8")
    overfits = "--hidden 128 --batch-size 4 --lr 2e-2 --lr-schedule constant --keep-best --patience 3".split()
    flags = [*TINY, "--eval-interval", "10", *overfits, "--steps", "600", "--corpus", str(text)]
    done = run(torchrun("-m", "charrnn_tui", "--train-only", *flags, "--run-dir", str(tmp_path / "run")), tmp_path)
    summary = done.stdout.strip().splitlines()[-3]
    assert summary.startswith("done (stopped early: no better validation loss in 3 evaluations)"), summary
    saved = load(tmp_path / "run")
    assert saved["step"] < 300 and saved["evals_since_best"] == 3 and saved["kept_step"] == saved["best_step"]


def test_ranks_stream_through_different_text(tmp_path):
    # Ranks that read the same windows average identical gradients and end exactly where one process
    # does: twice the work for nothing.
    flags = ["--preset", "tiny", "--sampling", "tbptt", "--steps", "20"]
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    run_together(
        [
            [sys.executable, str(HERE / "ddp_rank.py"), str(one), *flags, "--run-dir", str(tmp_path / "r1")],
            torchrun(str(HERE / "ddp_rank.py"), str(two), *flags, "--run-dir", str(tmp_path / "r2")),
        ],
        tmp_path,
    )
    single = torch.load(one / "rank0.pt", weights_only=True)
    ranked = torch.load(two / "rank0.pt", weights_only=True)
    assert not all(torch.equal(single[name], ranked[name]) for name in single)


def test_checkpoint_loads_in_one_process_and_generates(trained):
    model, vocab, ckpt = load_model(trained["run_dir"])
    assert not any(k.startswith("module.") for k in ckpt["model"])  # saved unwrapped from DDP
    gen = Generator(model, vocab)
    gen.feed("HAMLET")
    text = "".join(t.char for t in gen.sample(50, temperature=0.8, seed=1))
    assert len(text) == 50 and set(text) <= set(vocab.chars)


def test_resume_on_two_ranks_continues_the_run(trained):
    run_dir = trained["tmp"] / "resumed"
    shutil.copytree(trained["run_dir"], run_dir)
    done = run(
        torchrun("-m", "charrnn_tui", "--train-only", "--resume", "--steps", "80", "--run-dir", str(run_dir)),
        trained["tmp"],
    )
    assert "continuing from step 40" in done.stdout
    assert "x2 ranks" in done.stdout
    assert load(run_dir)["step"] == 80
    steps = [r["step"] for r in read_metrics(run_dir / "metrics.jsonl")]
    assert steps == [10, 20, 30, 40, 50, 60, 70, 80]


def test_sigterm_to_torchrun_stops_every_rank_with_a_checkpoint(tmp_path):
    run_dir, log = tmp_path / "run", tmp_path / "log.txt"
    proc, ranks = start_endless(run_dir, tmp_path, log)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=HANG_GUARD_S)
    out = log.read_text()
    assert not [pid for pid in ranks.values() if alive(pid)], out
    # Each rank stopped itself between steps (torchrun forwards SIGTERM), none was killed mid-write.
    assert "SIGTERM: stopping after this step" in out, out
    assert "forcefully exiting" not in out, out
    rows = read_metrics(run_dir / "metrics.jsonl")
    assert load(run_dir)["step"] == rows[-1]["step"] > 0


def test_a_rank_that_dies_does_not_hang_the_other(tmp_path):
    run_dir, log = tmp_path / "run", tmp_path / "log.txt"
    proc, ranks = start_endless(run_dir, tmp_path, log)
    os.kill(ranks[1], signal.SIGKILL)
    rc = proc.wait(timeout=HANG_GUARD_S)
    assert rc != 0
    assert not alive(ranks[0]), log.read_text()


# ---- joining, in this process: the errors a user can cause --------------------------------------------------


@pytest.fixture
def torchrun_env(monkeypatch):
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", TIMEOUT_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    return monkeypatch


def test_one_process_gets_a_context_that_does_nothing():
    ctx = from_environment("cpu")
    assert not ctx.enabled and ctx.is_main
    assert ctx.agree(True, 1.5) == (True, 1.5)
    assert ctx.shard(torch.arange(10)).tolist() == list(range(10))


def test_shards_are_disjoint_equal_and_in_order():
    data = torch.arange(100)
    shards = [DistContext(rank, 3).shard(data) for rank in range(3)]
    assert [len(s) for s in shards] == [33, 33, 33]
    assert torch.cat(shards).tolist() == list(range(99))


@pytest.mark.parametrize(
    ("env", "device", "message"),
    [
        ({}, "cpu", "RANK or LOCAL_RANK is missing"),
        ({"RANK": "0", "LOCAL_RANK": "0"}, "mps", "not MPS"),
        ({"RANK": "0", "LOCAL_RANK": "0", TIMEOUT_ENV: "soon"}, "cpu", "number of seconds"),
    ],
)
def test_bad_launch_settings_are_refused_clearly(torchrun_env, env, device, message):
    for name, value in env.items():
        torchrun_env.setenv(name, value)
    with pytest.raises(CharRNNError, match=message):
        from_environment(device)


def test_a_rank_with_no_one_to_join_gives_up_with_a_message(torchrun_env):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for name, value in {
        "RANK": "1",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        TIMEOUT_ENV: "0.5",
    }.items():
        torchrun_env.setenv(name, value)
    with pytest.raises(CharRNNError, match=f"rank 1 of 2 could not join the others at 127.0.0.1:{port}"):
        from_environment("cpu")
    assert not dist.is_initialized()
