"""When the terminal goes away while the app runs: a closed window, a dropped SSH connection, a killed tmux server
(SIGHUP, stdin at EOF, writes that fail with EIO), or a `kill` (SIGTERM, SIGINT).

Nothing on this path may need the event loop or the terminal: once the terminal is dead, Textual's writer and
input threads can wedge the loop for good (Textualize/textual#6692: a dead writer thread with a bounded queue
blocks the main thread in `Queue.put`; PR #6690: the input thread busy-loops at EOF). So the signals get plain
handlers (Python runs them in the main thread even while it waits on a lock), the stop goes to the trainer's
thread-safe control, the input thread is told to end, and a backstop thread ends the process with a bounded wait:
the run's checkpoint and the release of its lock come from the training thread, and the operating system drops
the lock (an advisory file lock) with the process whatever happens. The exit through the loop is still tried
first, because on a live terminal (a `kill` from another shell) it restores the screen.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# What each phase may take. A step of the largest preset on a laptop CPU is well under a second, and its
# checkpoint a fraction of one; 3.5 + 1.0 s keeps the whole exit within the 5 s a user (or a session manager
# that escalates to SIGKILL) waits.
SAVE_WAIT_S = 3.5
EXIT_WAIT_S = 1.0
POLL_S = 0.05
WATCH_INTERVAL_S = 0.5

HANGUP = getattr(signal, "SIGHUP", None)  # not on Windows


@dataclass
class Ending:
    """How the process ends: the exit status (128 + the signal's number) and why, for the user and the tests."""

    code: int
    why: str


class HangupGuard:
    """Ends the app cleanly when its terminal or its user goes away, without relying on the event loop.

    `stop_training()` asks the run to stop after its step with a checkpoint (thread-safe; a no-op without a run);
    `training_done()` says whether the training thread has ended; `exit_app(code)` asks the app to exit through its
    loop (thread-safe, it must not block); `stop_input()` tells the terminal's input thread to end (it would spin
    on a dead descriptor); `hard_exit(code)` ends the process at once (`os._exit` outside tests)."""

    def __init__(
        self,
        stop_training: Callable[[], None],
        training_done: Callable[[], bool],
        exit_app: Callable[[int], None],
        stop_input: Callable[[], None] = lambda: None,
        hard_exit: Callable[[int], None] = os._exit,
        save_wait_s: float = SAVE_WAIT_S,
        exit_wait_s: float = EXIT_WAIT_S,
    ) -> None:
        self.stop_training = stop_training
        self.training_done = training_done
        self.exit_app = exit_app
        self.stop_input = stop_input
        self.hard_exit = hard_exit
        self.save_wait_s = save_wait_s
        self.exit_wait_s = exit_wait_s
        self.ending: Ending | None = None
        self.terminal_dead = False
        self._once = threading.Lock()  # taken by the first ending, never released
        self._backstop: threading.Thread | None = None
        self._previous: dict[int, object] = {}

    # ---- causes -------------------------------------------------------------------------------------------
    def install(self) -> None:
        """Plain handlers for SIGTERM, SIGINT and SIGHUP (unless SIGHUP is ignored: `nohup`). Main thread only."""
        for sig in (signal.SIGTERM, signal.SIGINT, HANGUP):
            if sig is None or (sig == HANGUP and signal.getsignal(sig) is signal.SIG_IGN):
                continue
            self._previous[sig] = signal.signal(sig, self.on_signal)

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def on_signal(self, signum: int, frame: object = None) -> None:
        """A signal handler: the first saves and ends, a second one ends at once (the first's checkpoint may still be
        writing, and the user asked twice)."""
        if self.ending is not None:
            self.hard_exit(self.ending.code)
            return
        if signum == HANGUP:
            self.terminal_dead = True  # the terminal hung up: nothing may wait on it
            self.stop_input()
        self.end(128 + int(signum), signal.Signals(signum).name)

    def terminal_gone(self, why: str) -> None:
        """The terminal is dead though no signal came (a write failed with EIO, stdin hung up): end as SIGHUP does.
        Any thread."""
        self.terminal_dead = True
        self.stop_input()
        self.end(128 + int(HANGUP or 1), why)

    # ---- the ending ---------------------------------------------------------------------------------------
    def end(self, code: int, why: str) -> None:
        """Start the ending once: the backstop thread stops the run with a checkpoint, waits for it, asks the app
        to exit and, failing that, ends the process. Safe in a signal handler: it takes no lock that the
        interrupted main thread may hold, so all the waiting and locking happens in the backstop thread."""
        if not self._once.acquire(blocking=False):
            return
        self.ending = Ending(code, why)
        self._backstop = threading.Thread(target=self._wait_then_exit, name="charrnn-hangup", daemon=True)
        self._backstop.start()

    def _wait_then_exit(self) -> None:
        code = self.ending.code
        self.stop_training()
        self._wait(self.training_done, self.save_wait_s)
        self.exit_app(code)  # on a live loop this restores the terminal and returns from App.run
        time.sleep(self.exit_wait_s)
        self.hard_exit(code)  # still here: the loop is wedged on the dead terminal (or the step never ended)

    @staticmethod
    def _wait(condition: Callable[[], bool], timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not condition():
            if time.monotonic() >= end:
                return False
            time.sleep(POLL_S)
        return True

    def join(self, timeout: float | None = None) -> None:
        """Wait for the backstop (tests)."""
        if self._backstop is not None:
            self._backstop.join(timeout)


def tty_hung_up(fd: int) -> bool:
    """True when `fd` is a terminal that has hung up: the kernel then fails its ioctls with EIO (reads return EOF,
    which cannot be told from input without consuming it)."""
    import errno
    import termios

    try:
        termios.tcgetattr(fd)
    except termios.error as e:
        return bool(e.args) and e.args[0] in (errno.EIO, errno.ENXIO, errno.EBADF)
    return False


def watch_terminal(fd: int, guard: HangupGuard, interval_s: float = WATCH_INTERVAL_S) -> threading.Thread:
    """A daemon thread that tells `guard` when the terminal on `fd` hangs up without a signal reaching us (the
    hang-up goes to the foreground process group, which a wrapper may own)."""

    def watch() -> None:
        while guard.ending is None:
            if tty_hung_up(fd):
                guard.terminal_gone("the terminal hung up")
                return
            time.sleep(interval_s)

    thread = threading.Thread(target=watch, name="charrnn-terminal-watch", daemon=True)
    thread.start()
    return thread
