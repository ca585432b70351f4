"""`--generate-only --num-samples N`: N continuations of one prime, stepped together, in real subprocesses."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from charrnn_tui.core.config import TINY as TINY_CONFIG
from charrnn_tui.core.events import Finished
from charrnn_tui.text.corpus import load_builtin, load_corpus
from charrnn_tui.training.trainer import Trainer


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `--train-only --corpus play.txt --preset tiny --steps 40` leaves, trained in this process: the
    generations below are the CLI runs under test, and a CLI process for the training would add only torch's
    import time."""
    home = tmp_path_factory.mktemp("home")
    run, corpus = home / "run", home / "play.txt"
    corpus.write_text(load_builtin("hamlet").text[:20_000], encoding="utf-8")
    cfg = TINY_CONFIG.with_overrides(device="cpu", eval_interval=20, log_interval=20, steps=40)
    assert isinstance(Trainer(load_corpus(str(corpus)), cfg, run).run(), Finished)
    return run


def one_error_line(done: subprocess.CompletedProcess, needle: str) -> None:
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines() == [f"charrnn-tui: error: {needle}"]


def samples(stdout: str) -> list[tuple[str, str]]:
    """[(header, body)] of an N-sample output; the body without its final newline."""
    parts = re.split(r"^(--- sample \d+ \(temperature [^)]*\) ---)\n", stdout, flags=re.M)
    assert parts[0] == ""
    return [(parts[i], parts[i + 1].removesuffix("\n")) for i in range(1, len(parts), 2)]


def test_argmax_samples_are_each_the_single_text(run_cli_together, run):
    base = ("--generate-only", "--run-dir", str(run), "--prime", "HAMLET", "--length", "60", "--temperature", "0")
    one, four = run_cli_together(base, (*base, "--num-samples", "4", "--stats"))
    assert one.returncode == 0 and four.returncode == 0, four.stderr
    got = samples(four.stdout)
    assert [h for h, _ in got] == [f"--- sample {i} (temperature 0) ---" for i in range(1, 5)]
    assert all(body == one.stdout.removesuffix("\n") for _, body in got)
    assert "generated 240 chars (4 samples of 60) in" in four.stderr


def test_sample_i_uses_seed_plus_i_minus_1(run_cli_together, run):
    base = ("--generate-only", "--run-dir", str(run), "--prime", "The", "--length", "80", "--temperature", "1.1")
    # Five independent processes, run side by side: N = 3 from seed 7, one sample from each of seeds 7, 8, 9,
    # and N = 1.
    three, *singles, n1 = run_cli_together(
        (*base, "--num-samples", "3", "--seed", "7"),
        *[(*base, "--seed", str(seed)) for seed in (7, 8, 9)],
        (*base, "--num-samples", "1", "--seed", "7"),
    )
    assert three.returncode == 0, three.stderr
    got = [body for _, body in samples(three.stdout)]
    for i, single in enumerate(singles):
        assert got[i] == single.stdout.removesuffix("\n")
    assert len(set(got)) == 3
    # N = 1 prints no header, as before the flag existed.
    assert not n1.stdout.startswith("---")


@pytest.mark.parametrize("n", ["0", "9", "-1"])
def test_num_samples_out_of_range_is_refused_before_torch(run_cli, tmp_path, n):
    # A `torch` that cannot be imported: the check must come before it (and before the checkpoint).
    fake = tmp_path / "fake"
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text("raise ImportError('torch was imported')\n")
    done = run_cli("--generate-only", "--run-dir", str(tmp_path), "--num-samples", n, env={"PYTHONPATH": str(fake)})
    one_error_line(done, f"--num-samples must be 1 to 8 (got {n})")
