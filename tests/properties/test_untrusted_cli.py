"""The command line with hostile text: control sequences never reach a terminal raw, odd encodings never
crash, hostile settings and checkpoints end in one clear line. Real subprocesses, a real pty."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from helpers.hostile import OSC0, OSC52, expanded_checkpoint, hostile_corpus_text

from charrnn_tui.core.config import TINY
from charrnn_tui.text.corpus import Corpus
from charrnn_tui.training.trainer import Trainer

TINY_ARGS = ["--preset", "tiny", "--device", "cpu", "--steps", "3", "--eval-interval", "3", "--val-fraction", "0.05"]


def env_for(home: Path, **extra: str) -> dict[str, str]:
    return os.environ | {"CHARRNN_TUI_HOME": str(home), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"} | extra


def cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "charrnn_tui", *args], capture_output=True, text=True, timeout=120,
        env=env_for(home, **env), encoding="utf-8", errors="backslashreplace",
    )  # fmt: skip


@pytest.fixture(scope="module")
def hostile_run(
    tmp_path_factory: pytest.TempPathFactory, small_corpus: Corpus
) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """A run trained through the CLI, with PYTHONIOENCODING=ascii, on a file whose name and first line
    hold control sequences and characters ASCII lacks."""
    home = tmp_path_factory.mktemp("home")
    corpus = tmp_path_factory.mktemp("corpus") / f"naïve{OSC0}.txt"
    corpus.write_text(hostile_corpus_text(small_corpus.text), encoding="utf-8")
    run = home / "run"
    done = cli(
        home, "--train-only", "--corpus", str(corpus), *TINY_ARGS, "--run-dir", str(run), PYTHONIOENCODING="ascii"
    )
    return home, run, done


class Started:
    """A CLI process started now, whose result a test waits for later (as `cli` would have returned it)."""

    def __init__(self, home: Path, *args: str, **env: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "charrnn_tui", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env_for(home, **env), encoding="utf-8", errors="backslashreplace",
        )  # fmt: skip

    def result(self) -> subprocess.CompletedProcess:
        out, err = self.proc.communicate(timeout=120)
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)


@pytest.fixture(scope="module")
def generations(hostile_run, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The generations from the hostile run that the tests below check, all started at once. Each is its own
    real CLI process, as before; a CLI process is one thread that mostly imports torch, so on two cores
    side by side they take about half the time they take in a row."""
    home, run, _ = hostile_run
    tmp = tmp_path_factory.mktemp("generations")
    # A checkpoint whose corpus head and other optional entries are of the wrong types.
    malformed = tmp / "malformed"
    malformed.mkdir()
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    damaged = {"corpus": {"head": 42, "name": ["x"]}, "best_val_loss": "low", "elapsed_s": [1], "batches": "x"}
    torch.save(ckpt | damaged, malformed / "checkpoint.pt")
    # A checkpoint whose weights are stride-0 views that claim a 4000-unit model.
    expanded = tmp / "expanded"
    expanded.mkdir()
    expanded_checkpoint(run / "checkpoint.pt", expanded / "checkpoint.pt", hidden=4000)
    # A prime ASCII cannot encode, with stdout into a file (the child keeps its own handle on it).
    ascii_out = tmp / "out.txt"
    with open(ascii_out, "wb") as f:
        ascii_prime = subprocess.Popen(
            [sys.executable, "-m", "charrnn_tui", "--generate-only", "--run-dir", str(run), "--prime", "★",
             "--length", "20", "--stats"],
            stdout=f, stderr=subprocess.PIPE, env=env_for(home, PYTHONIOENCODING="ascii"),
        )  # fmt: skip
    underflow = ["--generate-only", "--run-dir", str(run), "--prime", "HAMLET", "--length", "30"]
    started = {
        "pipe": Started(home, "--generate-only", "--run-dir", str(run), "--length", "40", PYTHONIOENCODING="utf-8"),
        "tiny_temperature": Started(home, *underflow, "--temperature", "1e-40"),
        "argmax": Started(home, *underflow, "--temperature", "0"),
        "malformed": Started(
            home, "--generate-only", "--run-dir", str(malformed), "--length", "10", PYTHONIOENCODING="utf-8"
        ),
        "expanded": Started(home, "--generate-only", "--run-dir", str(expanded), "--length", "10"),
    }
    yield started | {"ascii_prime": (ascii_prime, ascii_out), "expanded": (expanded, started["expanded"])}
    for proc in [ascii_prime, *(s.proc for s in started.values())]:  # those of deselected tests
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_training_on_a_hostile_file_name_with_an_ascii_stdout(hostile_run) -> None:
    _, run, done = hostile_run
    assert done.returncode == 0, done.stderr
    assert (run / "checkpoint.pt").exists()
    assert "Traceback" not in done.stderr and "\x1b" not in done.stdout + done.stderr
    assert "on na\\xefve\\u241b]0;TITLE\\u2407:" in done.stdout  # escaped, then made ASCII
    assert "done (step budget reached)" in done.stdout


def read_pty(master: int, proc: subprocess.Popen, timeout: float = 60) -> bytes:
    out, end = b"", time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    return out


def test_generate_to_a_terminal_shows_control_characters(hostile_run) -> None:
    home, run, _ = hostile_run
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "charrnn_tui", "--generate-only", "--run-dir", str(run), "--length", "40"],
            stdout=slave, stderr=subprocess.PIPE, env=env_for(home, PYTHONIOENCODING="utf-8"),
        )  # fmt: skip
        os.close(slave)
        out = read_pty(master, proc)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        os.close(master)
    text = out.decode("utf-8")
    # The default prime is the corpus's first line, with both sequences: shown, not obeyed.
    assert text.startswith("␛]52;c;SGVsbG8=␇␛]0;TITLE␇"), text[:80]
    assert "\x1b" not in text and "\x07" not in text


def test_generate_into_a_pipe_writes_the_data_unchanged(generations) -> None:
    done = generations["pipe"].result()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(OSC52 + OSC0 + " ★ naïve\n")


def test_generate_with_a_prime_ascii_cannot_encode(generations) -> None:
    proc, out = generations["ascii_prime"]
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    written = out.read_bytes().decode("ascii")
    assert written.startswith("\\u2605") and len(written) > len("\\u2605") + 20 - 1
    assert b"generated 20 chars" in stderr


def test_a_temperature_that_underflows_acts_as_argmax(generations) -> None:
    tiny, argmax = generations["tiny_temperature"].result(), generations["argmax"].result()
    assert tiny.returncode == 0 and "Traceback" not in tiny.stderr, tiny.stderr
    assert tiny.stdout == argmax.stdout


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--temperature", "nan"], "--temperature must be a finite number (got nan)"),
        (["--temperature", "inf"], "--temperature must be a finite number (got inf)"),
        (["--temperature=-inf"], "--temperature must be a finite number (got -inf)"),
        (["--temperature", "1000"], "--temperature must be 0 (argmax) or more, up to 100"),
        (["--seed", "-1"], "--seed must be 0 or more"),
        (["--seed", str(2**64)], "--seed must be 0 or more"),
        (["--top-k", "-3"], "--top-k must be 0 (all) or more"),
        (["--length", "-1"], "--length must be 0 or more"),
        (["--length", str(10**10)], "--length must be 0 or more, up to 1,000,000,000"),
    ],
)
def test_generation_settings_out_of_range(tmp_path: Path, args: list[str], needle: str) -> None:
    # Refused before any checkpoint is looked at (and before torch is imported).
    done = cli(tmp_path, "--generate-only", "--run-dir", str(tmp_path / "none"), *args)
    assert done.returncode == 1 and needle in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--lr", "nan"], "learning rate must be a finite number (got nan)"),
        (["--max-seconds", "inf"], "max seconds must be a finite number"),
        (["--hidden", "100000"], "hidden size must be at most 8,192"),
        (["--layers", "1000"], "layers must be at most 16"),
        (["--batch-size", "4096", "--seq-len", "4096"], "16,777,216 characters a step, more than the 4,194,304"),
        (["--seed", "-5"], "seed must be 0 or more"),
        (["--dropout", "nan"], "dropout must be a finite number"),
        (["--hidden", "8192", "--layers", "16"], "parameters, more than the 100,000,000 allowed"),
    ],
)
def test_training_settings_out_of_range(tmp_path: Path, args: list[str], needle: str) -> None:
    done = cli(tmp_path, "--train-only", *args)
    assert done.returncode == 1 and needle in done.stderr and "Traceback" not in done.stderr


def test_a_one_line_corpus_generates_without_a_prime(tmp_path: Path) -> None:
    text = ("to be or not to be that is the question " * 40).strip()  # no newline anywhere
    run = tmp_path / "run"
    cfg = TINY.with_overrides(device="cpu", steps=2, eval_interval=2, checkpoint_seconds=0, val_fraction=0.05)
    assert Trainer(Corpus("one-line", text, "one-line.txt"), cfg, run).run().step == 2
    done = cli(tmp_path, "--generate-only", "--run-dir", str(run), "--length", "20")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(text[:200])


def test_a_checkpoint_with_a_malformed_corpus_head_still_generates(generations) -> None:
    done = generations["malformed"].result()
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert len(done.stdout) >= 11


def test_a_checkpoint_of_expanded_views_is_refused_in_one_line(generations) -> None:
    bad, started = generations["expanded"]
    assert (bad / "checkpoint.pt").stat().st_size < 20_000
    done = started.result()
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "claims more values than it stores" in done.stderr and done.stderr.count("\n") == 1
