"""Signals sent to the app while it trains: each saves a checkpoint as the headless Ctrl+C does, ends the
process and restores the terminal. The real app in a real pseudo-terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from charrnn_tui.runs.listing import summarize
from charrnn_tui.runs.metrics_log import read_metrics


class Terminal:
    """The app on a pty of 100x30, its output collected by a thread (a full pty would block the app)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        self.master = master
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "charrnn_tui", *args], stdin=slave, stdout=slave, stderr=slave, env=env,
            start_new_session=True,
        )  # fmt: skip
        os.close(slave)
        self.output = bytearray()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.output += data

    def wait_for(self, condition, what: str, timeout: float = 90) -> None:
        end = time.monotonic() + timeout
        while not condition():
            assert self.proc.poll() is None, f"the app ended while waiting for {what}: {bytes(self.output[-2000:])!r}"
            assert time.monotonic() < end, f"timed out waiting for {what}"
            time.sleep(0.1)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        os.close(self.master)


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_a_signal_during_training_saves_ends_and_restores_the_terminal(
    cli_environ, data_home: Path, small_text_file: Path, sig: int, code: int
) -> None:
    args = ["--corpus", str(small_text_file), "--preset", "tiny", "--device", "cpu", "--steps", "0",
            "--max-seconds", "300", "--eval-interval", "100000", "--checkpoint-seconds", "0"]  # fmt: skip
    term = Terminal(args, cli_environ | {"TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"})
    try:
        term.wait_for(lambda: b"LSTM on" in term.output, "the corpus to load")
        os.write(term.master, b"\x14")  # Ctrl+T: train
        runs = data_home / "runs"

        def logged() -> bool:
            folders = list(runs.glob("*/metrics.jsonl")) if runs.exists() else []
            return bool(folders) and len(read_metrics(folders[0])) >= 2

        term.wait_for(logged, "training to log two rows")
        (run,) = [p.parent for p in runs.glob("*/metrics.jsonl")]
        assert not (run / "checkpoint.pt").exists()  # nothing saved yet: the signal's save is the one
        mark = len(term.output)
        os.kill(term.proc.pid, sig)
        assert term.proc.wait(60) == code
        term.reader.join(5)
        summary = summarize(run)
        assert summary.problem is None and summary.step and summary.step > 0
        after = bytes(term.output[mark:])
        assert b"\x1b[?1049l" in after  # the alternate screen is left
        assert b"\x1b[?1000l" in after  # mouse reporting is off again
    finally:
        term.close()
