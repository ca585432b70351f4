"""The app's terminal goes away while it trains: a killed tmux server (a hang-up), a closed terminal window with no
signal reaching the app (its pseudo-terminal's master closed), and a start with no usable terminal at all. Each
time the run saves a checkpoint, its lock is released, and no process is left behind. A real tmux server, a real
pseudo-terminal, real subprocesses."""

from __future__ import annotations

import fcntl
import os
import pty
import shlex
import shutil
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from charrnn_tui.runs.folder import RunLock
from charrnn_tui.runs.listing import summarize
from charrnn_tui.runs.metrics_log import read_metrics

APP = [sys.executable, "-m", "charrnn_tui"]


def app_args(corpus: Path) -> list[str]:
    """Settings for a run that lasts until it is stopped and saves nothing before (Ctrl+T starts it)."""
    return ["--corpus", str(corpus), "--preset", "tiny", "--device", "cpu", "--steps", "0", "--max-seconds", "300",
            "--eval-interval", "100000", "--checkpoint-seconds", "0"]  # fmt: skip


def the_run(data_home: Path) -> Path | None:
    runs = list((data_home / "runs").glob("*/metrics.jsonl")) if (data_home / "runs").exists() else []
    return runs[0].parent if runs else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (ended, not yet reaped by its parent) is gone for our purpose.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return True


def wait_until(condition, what: str, timeout: float = 90) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.1)


def training_logged(data_home: Path, rows: int = 2) -> bool:
    run = the_run(data_home)
    return run is not None and len(read_metrics(run / "metrics.jsonl")) >= rows


def press_until_training(press_ctrl_t, data_home: Path):
    """A condition for wait_until: Ctrl+T, once a second until a run folder appears (the corpus loads first),
    then true once training has logged three rows."""
    last = [0.0]

    def check() -> bool:
        if the_run(data_home) is None and time.monotonic() - last[0] > 1:
            press_ctrl_t()
            last[0] = time.monotonic()
        return training_logged(data_home, 3)

    return check


def assert_whole_and_free(run: Path) -> None:
    summary = summarize(run)
    assert summary is not None and summary.problem is None
    assert summary.step is not None and summary.step > 0  # the stop's checkpoint: nothing was saved before
    lock = RunLock(run)
    lock.acquire()  # a second app finds the run free: raises if the lock were still held
    lock.release()


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_a_killed_tmux_server_saves_the_run_and_leaves_no_process(
    cli_environ, data_home: Path, small_text_file: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    socket = f"charrnn-test-{os.getpid()}"
    env_words = " ".join(f"{k}={shlex.quote(v)}" for k, v in cli_environ.items() if k.startswith(("CHARRNN", "PY")))
    command = f"echo $$ > {shlex.quote(str(pid_file))}; exec env {env_words} " + shlex.join(
        [*APP, *app_args(small_text_file)]
    )
    tmux = ["tmux", "-L", socket, "-f", "/dev/null"]
    subprocess.run([*tmux, "new-session", "-d", "-x", "80", "-y", "24", command], check=True, env=cli_environ)
    pid = None
    try:
        wait_until(pid_file.exists, "the app to start")
        pid = int(pid_file.read_text())
        wait_until(press_until_training(lambda: subprocess.run([*tmux, "send-keys", "C-t"]), data_home), "training")
        t0 = time.monotonic()
        subprocess.run([*tmux, "kill-server"], check=True)
        wait_until(lambda: not alive(pid), "the app to end", timeout=30)
        took = time.monotonic() - t0
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
        if pid is not None and alive(pid):
            os.kill(pid, 9)
    assert took < 5, f"the app took {took:.1f} s to end after its terminal went away"
    assert_whole_and_free(the_run(data_home))


def test_a_closed_terminal_without_a_signal_saves_and_ends(cli_environ, data_home: Path, small_text_file: Path):
    # The app's pseudo-terminal is not its controlling terminal here, so closing the master sends no SIGHUP:
    # only the dead descriptor tells (reads at EOF, writes failing with EIO).
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = cli_environ | {"TERM": "xterm-256color"}
    proc = subprocess.Popen([*APP, *app_args(small_text_file)], stdin=slave, stdout=slave, stderr=slave,
                            env=env, start_new_session=True)  # fmt: skip
    os.close(slave)
    try:
        seen = bytearray()

        def drained(condition):  # a pty whose output nobody reads would block the app
            def check() -> bool:
                while select_readable(master):
                    seen.extend(os.read(master, 65536))
                return condition()

            return check

        wait_until(drained(press_until_training(lambda: os.write(master, b"\x14"), data_home)), "training")
        t0 = time.monotonic()
        os.close(master)
        proc.wait(30)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert took < 5, f"the app took {took:.1f} s to end after its terminal was closed"
    assert proc.returncode == 129  # as a hang-up
    assert_whole_and_free(the_run(data_home))


def select_readable(fd: int) -> bool:
    import select

    return bool(select.select([fd], [], [], 0)[0])


@pytest.mark.parametrize("stdin", ["devnull", "closed"])
def test_the_app_refuses_to_start_without_a_terminal(cli_environ, stdin: str) -> None:
    kwargs = {"stdin": subprocess.DEVNULL} if stdin == "devnull" else {"pass_fds": (), "preexec_fn": close_stdin}
    done = subprocess.run(APP, capture_output=True, text=True, env=cli_environ, timeout=30, **kwargs)
    what = "a file or a pipe" if stdin == "devnull" else "closed"
    assert done.returncode == 1
    assert done.stderr == (
        f"charrnn-tui: error: the app needs a terminal, and stdin is not one ({what}); for scripts and servers "
        "use --train-only or --generate-only\n"
    )


def close_stdin() -> None:
    os.close(0)
