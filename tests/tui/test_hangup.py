"""The ending path when a terminal goes away, its decisions one by one: what it stops, what it waits for and when it
ends the process itself. The real guard with recorded callbacks instead of a process exit; the real driver output
wrapper on a stream that fails as a hung-up terminal does."""

from __future__ import annotations

import errno
import io
import signal
import threading
import time

from charrnn_tui.tui.hangup import HangupGuard, tty_hung_up
from charrnn_tui.tui.terminal_driver import GuardedOutput


class Calls:
    def __init__(self) -> None:
        self.log: list[tuple[str, object]] = []
        self.done = threading.Event()
        self.exited = threading.Event()

    def guard(self, save_wait_s: float = 1.0, exit_wait_s: float = 0.2) -> HangupGuard:
        return HangupGuard(
            stop_training=lambda: self.log.append(("stop", None)),
            training_done=self.done.is_set,
            exit_app=lambda code: self.log.append(("exit_app", code)),
            stop_input=lambda: self.log.append(("stop_input", None)),
            hard_exit=self.hard_exit,
            save_wait_s=save_wait_s,
            exit_wait_s=exit_wait_s,
        )

    def hard_exit(self, code: int) -> None:
        self.log.append(("hard_exit", code))
        self.exited.set()


def test_a_hang_up_stops_the_run_waits_for_it_then_exits_through_the_loop_first() -> None:
    calls = Calls()
    guard = calls.guard()
    guard.on_signal(signal.SIGHUP)
    time.sleep(0.1)
    assert ("stop", None) in calls.log and ("exit_app", 129) not in calls.log  # the run is still saving
    calls.done.set()
    guard.join(5)
    assert calls.log == [("stop_input", None), ("stop", None), ("exit_app", 129), ("hard_exit", 129)]
    assert guard.terminal_dead and guard.ending.code == 129


def test_a_step_that_never_ends_cannot_keep_the_process_alive() -> None:
    calls = Calls()
    guard = calls.guard(save_wait_s=0.3)
    t0 = time.monotonic()
    guard.on_signal(signal.SIGTERM)
    assert calls.exited.wait(5)
    assert 0.3 <= time.monotonic() - t0 < 2
    assert calls.log == [("stop", None), ("exit_app", 143), ("hard_exit", 143)]
    assert not guard.terminal_dead  # a kill from another shell: the terminal is alive and gets restored


def test_a_second_signal_ends_at_once() -> None:
    calls = Calls()
    guard = calls.guard(save_wait_s=30)
    guard.on_signal(signal.SIGTERM)
    guard.on_signal(signal.SIGINT)
    assert calls.log[-1] == ("hard_exit", 143)  # the first ending's status, without waiting for the save


def test_a_dead_terminal_without_a_signal_ends_as_a_hang_up_once() -> None:
    calls = Calls()
    calls.done.set()
    guard = calls.guard()
    guard.terminal_gone("the terminal went away (Input/output error)")
    guard.terminal_gone("again, from another thread")
    guard.join(5)
    assert [c for c in calls.log if c[0] == "exit_app"] == [("exit_app", 129)]
    assert guard.ending.why == "the terminal went away (Input/output error)"


class HungUp(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(errno.EIO, "Input/output error")


def test_output_to_a_hung_up_terminal_never_raises_and_reports_once() -> None:
    told: list[str] = []
    out = GuardedOutput(HungUp(), told.append)
    for _ in range(100):  # more than Textual's writer queue holds (30): nothing may block or raise
        assert out.write("\x1b[2J frame") == len("\x1b[2J frame")
        out.flush()
    assert told == ["the terminal went away (Input/output error)"]
    assert out.dead


def test_a_descriptor_that_is_not_a_terminal_is_not_a_hang_up(tmp_path) -> None:
    with open(tmp_path / "f", "w") as f:
        assert not tty_hung_up(f.fileno())  # ENOTTY: a file, not a dead terminal
