"""Textual's terminal driver with output that cannot wedge the app on a dead terminal.

Textual's writer thread writes the screen to stderr; on a hung-up terminal that write raises EIO, the thread dies,
its bounded queue fills and the main thread then blocks in `Queue.put` for ever (Textualize/textual#6692). Here
the driver writes through `GuardedOutput`, which turns the first failed write into a call of `on_dead(why)` and
drops the rest, so the writer thread lives, the loop keeps running and the app can exit through it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.driver import Driver


class GuardedOutput:
    """A text stream that never raises on write or flush: the first OSError (EIO, EPIPE, ENOSPC) or write to a
    closed stream calls `on_dead` once with the reason, and later writes are dropped."""

    def __init__(self, stream: Any, on_dead: Callable[[str], None]) -> None:
        self._stream = stream
        self._on_dead = on_dead
        self.dead = False

    def write(self, text: str) -> int:
        if not self.dead:
            try:
                return self._stream.write(text)
            except (OSError, ValueError) as e:
                self._die(e)
        return len(text)

    def flush(self) -> None:
        if not self.dead:
            try:
                self._stream.flush()
            except (OSError, ValueError) as e:
                self._die(e)

    def _die(self, error: Exception) -> None:
        self.dead = True
        why = getattr(error, "strerror", None) or str(error) or type(error).__name__
        self._on_dead(f"the terminal went away ({why})")

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding: the real stream's
        return getattr(self._stream, name)


def guarded_driver(base: type[Driver], on_dead: Callable[[str], None]) -> type[Driver]:
    """A subclass of `base` (the driver Textual chose for this platform) whose output is a GuardedOutput.
    A driver without the `_file` it writes through (not Linux's or macOS's) is returned as it is."""

    class GuardedDriver(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if hasattr(self, "_file"):
                self._file = GuardedOutput(self._file, on_dead)

        def stop_input(self) -> None:
            """End the input thread: on a hung-up terminal it would read EOF in a busy loop (textual PR #6690)."""
            exit_event = getattr(self, "exit_event", None)
            if exit_event is not None:
                exit_event.set()

        def disable_input(self) -> None:
            # Textual skips its whole input shutdown, mouse reporting included, once the input thread was told to
            # end; a terminal that hung up but still shows (SIGHUP from `kill`) must get its mouse back all the same.
            exit_event = getattr(self, "exit_event", None)
            disable_mouse = getattr(self, "_disable_mouse_support", None)
            if exit_event is not None and exit_event.is_set() and disable_mouse is not None:
                disable_mouse()  # its writes go through GuardedOutput: they cannot fail
            super().disable_input()

    GuardedDriver.__name__ = GuardedDriver.__qualname__ = f"Guarded{base.__name__}"
    return GuardedDriver
