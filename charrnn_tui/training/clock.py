"""The run's clock: seconds trained (across sessions, pauses excluded), the time budget, progress, ETA."""

from __future__ import annotations

import time
from collections.abc import Callable

from charrnn_tui.core.config import TrainConfig


class RunClock:
    """All in seconds. `elapsed_before` is what earlier sessions of a resumed run trained; the time budget
    (`max_seconds`) is per session, the step budget counts from the run's start.

    `agreed` is this session's elapsed time as all ranks agree on it (distributed.DistContext.agree): the
    lr schedule follows it, so every rank uses the same learning rate.
    """

    def __init__(self, elapsed_before: float = 0.0, now: Callable[[], float] = time.perf_counter) -> None:
        self.elapsed_before = elapsed_before
        self._now = now
        self._start = now()
        self._paused = 0.0
        self.agreed = 0.0
        self.step_time: float | None = None  # moving average of a step's seconds
        self.steps_timed = 0  # this session's steps, and the seconds they took (evaluations and saves excluded)
        self.seconds_in_steps = 0.0
        self.eval_seconds: float | None = None  # the last evaluation's cost, kept in hand so the budget holds
        self.save_seconds = 0.0  # likewise the last checkpoint's

    def start(self) -> None:
        """(Re)start this session's clock: set-up before the first step does not count."""
        self._start, self._paused = self._now(), 0.0

    def session_elapsed(self) -> float:
        return self._now() - self._start - self._paused

    def elapsed(self) -> float:
        return self.elapsed_before + self.session_elapsed()

    def add_pause(self, seconds: float) -> None:
        self._paused += seconds

    def record_step(self, seconds: float) -> None:
        self.steps_timed += 1
        self.seconds_in_steps += seconds
        self.step_time = seconds if self.step_time is None else 0.9 * self.step_time + 0.1 * seconds

    def eval_cost(self, eval_chars: int, chars_per_step: int) -> float:
        if self.eval_seconds is not None:
            return self.eval_seconds
        # Before the first evaluation, guess from the step time: a forward pass is about a third of a
        # training step's forward, backward and update.
        return (self.step_time or 0.0) * eval_chars / chars_per_step / 3

    def progress(self, cfg: TrainConfig, step: int) -> float | None:
        """0..1 of the step or time budget, whichever is further; None when the run has neither."""
        parts = []
        if cfg.steps:
            parts.append(step / cfg.steps)
        if cfg.max_seconds:
            parts.append((self.elapsed_before + self.agreed) / (self.elapsed_before + cfg.max_seconds))
        return min(1.0, max(parts)) if parts else None

    def out_of_time(self, cfg: TrainConfig, eval_chars: int, chars_per_step: int) -> bool:
        """True when one more step would leave no room for the last evaluation and checkpoint."""
        if not cfg.max_seconds:
            return False
        need = (self.step_time or 0) + self.eval_cost(eval_chars, chars_per_step) + self.save_seconds
        return self.session_elapsed() + need >= cfg.max_seconds

    def eta(self, cfg: TrainConfig, step: int, eval_chars: int, chars_per_step: int) -> float | None:
        """Seconds until the budget ends (steps, evaluations and the last checkpoint); None when unbounded."""
        eta = None
        if cfg.steps and self.step_time is not None:
            left_steps = max(0, cfg.steps - step)
            evals_left = left_steps // cfg.eval_interval + 1
            eta = left_steps * self.step_time + evals_left * self.eval_cost(eval_chars, chars_per_step)
            eta += self.save_seconds
        if cfg.max_seconds:
            left = max(0.0, cfg.max_seconds - self.session_elapsed())
            eta = left if eta is None else min(eta, left)
        return eta
