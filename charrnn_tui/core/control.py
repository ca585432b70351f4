"""The one control object a training run and its front ends share: pause, unpause, stop (with or
without a final checkpoint) and save now. Thread-safe: the app's UI thread, a signal handler or a test
calls it while the trainer's thread polls it once a step."""

from __future__ import annotations

import threading
import time


class TrainingControl:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._save = threading.Event()
        self.save_on_stop = True

    def pause(self) -> None:
        """Hold the run before its next step (it keeps its place, its clock stops)."""
        if not self._stop.is_set():
            self._running.clear()

    def unpause(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def stop(self, save: bool = True) -> None:
        """End after the current step; `save=False` skips the final checkpoint (earlier ones are kept).
        A paused run is unpaused so that it can end."""
        self.save_on_stop = save
        self._stop.set()
        self._running.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def request_save(self) -> None:
        """Write a checkpoint after the current step."""
        self._save.set()

    def take_save_request(self) -> bool:
        """True once per request (the trainer's side)."""
        if self._save.is_set():
            self._save.clear()
            return True
        return False

    def wait_while_paused(self) -> float:
        """Block while paused; returns the seconds spent waiting (the trainer's side)."""
        t0 = time.perf_counter()
        self._running.wait()
        return time.perf_counter() - t0
